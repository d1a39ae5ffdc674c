// Deep merge of configuration layers: a patch file over the base, key by key. Tables merge; arrays, scalars and
// a table meeting a non-table replace whole, the later layer winning; sources move with the values they describe.
import {
  formatKey,
  isTable,
  isWithin,
  type ConfigPath,
  type ConfigTable,
  type Layer,
  type ValueSource,
} from './tree.js';

/** Returns a new layer: `patch` merged over `base`. Neither input is modified. */
export function mergeLayers(base: Layer, patch: Layer): Layer {
  const sources = new Map(base.sources);
  const tree = mergeTable(base.tree, patch.tree, [], sources, patch);
  return { tree, sources };
}

/** Merges every layer over the one before it, in order; no layers gives an empty tree. */
export function mergeAll(layers: readonly Layer[]): Layer {
  let out: Layer = { tree: {}, sources: new Map() };
  for (const layer of layers) out = mergeLayers(out, layer);
  return out;
}

function mergeTable(
  base: ConfigTable,
  over: ConfigTable,
  path: ConfigPath,
  sources: Map<string, ValueSource>,
  patch: Layer,
): ConfigTable {
  const out: ConfigTable = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const p = [...path, k];
    const key = formatKey(p);
    const prev = out[k];
    if (isTable(prev) && isTable(v)) {
      // The table keeps the source of whoever declared it first; its leaves say who set each of them.
      if (!sources.has(key)) copySources(patch, sources, key);
      out[k] = mergeTable(prev, v, p, sources, patch);
    } else {
      for (const existing of [...sources.keys()]) if (isWithin(existing, key)) sources.delete(existing);
      copySources(patch, sources, key, true);
      out[k] = v;
    }
  }
  return out;
}

/** Copies the patch's source for `key` (and, with `deep`, for everything inside it). */
function copySources(patch: Layer, into: Map<string, ValueSource>, key: string, deep = false): void {
  for (const [k, src] of patch.sources) {
    if (k === key || (deep && isWithin(k, key))) into.set(k, src);
  }
}
