// How deep an event may nest, checked before anything recursive touches it. An event's size is bounded by the
// protocol (max_payload, before it is parsed); its depth is not, and every consumer of a stored event walks it:
// SQLite's JSON functions (a stored store's filter columns read with json_extract), JSON.stringify, the sinks' receivers.
// The walk here keeps its own bounded stack, so a value nested a million deep costs a refusal, not a stack overflow.

/**
 * The most levels an event may nest, the event object itself being level 1 (so `data` holds at most 31). Well under
 * every limit past it: SQLite's JSON parser refuses more than 1,000 (json.c JSON_MAX_DEPTH), which failed the whole
 * group commit of the event's neighbours; V8's JSON.stringify overflows the stack past ~4,000 on this machine;
 * receivers' parsers stop at 64 (.NET System.Text.Json's default MaxDepth) or 128 (serde_json), and a sink's batch
 * or `send_as_list` body wraps each event in one more array. Real events nest a handful of levels.
 */
export const MAX_EVENT_DEPTH = 32;

// The walk's stack, reused: at most MAX_EVENT_DEPTH-ish frames are ever live (deeper is refused before a push).
const frameValue: unknown[] = [];
const frameKeys: (string[] | undefined)[] = [];
const frameNext: number[] = [];

/**
 * Whether `value` nests more than `max` levels (an object or array is one level, its members the next; a scalar
 * none). Iterative: memory and time are bounded by `max` frames and the members visited, whatever the depth; a
 * cyclic value counts as too deep.
 */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (max < 1) return true;
  frameValue[0] = value;
  frameKeys[0] = Array.isArray(value) ? undefined : Object.keys(value);
  frameNext[0] = 0;
  let top = 1;
  let used = 1;
  let deeper = false;
  while (top > 0) {
    const i = top - 1;
    const v = frameValue[i];
    const keys = frameKeys[i];
    const n = frameNext[i]!;
    if (n >= (keys === undefined ? (v as unknown[]).length : keys.length)) {
      top--;
      continue;
    }
    frameNext[i] = n + 1;
    const child = keys === undefined ? (v as unknown[])[n] : (v as Record<string, unknown>)[keys[n]!];
    if (child === null || typeof child !== 'object') continue;
    // The child is at level top + 1.
    if (top >= max) {
      deeper = true;
      break;
    }
    frameValue[top] = child;
    frameKeys[top] = Array.isArray(child) ? undefined : Object.keys(child);
    frameNext[top] = 0;
    top++;
    if (top > used) used = top;
  }
  // Drop the references: the stack outlives the call.
  for (let i = 0; i < used; i++) {
    frameValue[i] = undefined;
    frameKeys[i] = undefined;
  }
  return deeper;
}

/**
 * The first top-level member of `event` under which it nests deeper than MAX_EVENT_DEPTH levels (the event being
 * level 1), or undefined when none does.
 */
export function memberNestedTooDeep(event: Record<string, unknown>): string | undefined {
  for (const key of Object.keys(event)) {
    if (nestsDeeperThan(event[key], MAX_EVENT_DEPTH - 1)) return key;
  }
  return undefined;
}
