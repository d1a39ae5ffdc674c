// Plans a reload for any process, from its schema's reload marks (schema.ts ReloadMode): the configuration to put in
// force is the new one with every restart-only setting kept at its running value, so a process's `config` always
// describes what it does, and the difference is split into what applies now and what waits for a restart. Putting
// the plan in force is the process's applyConfig; comparing and redacting are changes.ts'.
import { configChanges, type ConfigChanges } from './changes.js';
import type { AnyField, InferShape, ReloadMode, Section, Shape } from './schema.js';

export interface ReloadPlan<C> extends ConfigChanges {
  /** What to put in force: `next` with the restart-only settings at their running values. */
  config: C;
}

/** What the root of a schema does on reload when it has no mark: a setting nobody classified waits for a restart. */
const ROOT_MODE: ReloadMode = 'restart';

/** Splits the difference between `running` and `next` (both valid for `root`) into what applies now and what waits. */
export function planReload<S extends Shape>(
  root: Section<S, boolean>,
  running: InferShape<S>,
  next: InferShape<S>,
): ReloadPlan<InferShape<S>> {
  const config = inForce(root as unknown as AnyField, ROOT_MODE, running, next) as InferShape<S>;
  return { config, ...configChanges(running, next, { inForce: config }) };
}

/** The value `field` has after a reload from `running` to `next`, `outer` being its section's mode. */
function inForce(field: AnyField, outer: ReloadMode, running: unknown, next: unknown): unknown {
  const mode = field.reload ?? outer;
  if (field.kind === 'leaf') return mode === 'live' ? next : running;
  // Whole sections keep their identity (a port may keep the section it was started with).
  if (everywhere(field, mode, 'live')) return next;
  if (everywhere(field, mode, 'restart')) return running;
  // Added or removed with a restart-only setting inside (TLS's verify): the section stays as it runs.
  if (running === undefined || next === undefined) return running;
  const was = running as Record<string, unknown>;
  const now = next as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(field.shape)) {
    const v = inForce(f, mode, was[key], now[key]);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** True when `field` and everything inside it reload as `wanted`. */
function everywhere(field: AnyField, outer: ReloadMode, wanted: ReloadMode): boolean {
  const mode = field.reload ?? outer;
  if (mode !== wanted) return false;
  return field.kind === 'leaf' || Object.values(field.shape).every((f) => everywhere(f, mode, wanted));
}
