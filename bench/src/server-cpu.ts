// Server CPU over a generator's measured window for a scenario that runs several processes (a hub and a leaf, the
// gateway's upstream and leaf): each process's seconds by name, and their sum for the report's server CPU.
import type { RunningServer } from './servers.js';

export interface ServerCpuWindow {
  /** The generator's hook (RunHooks.onWindow): reads every server's CPU when the window starts and ends. */
  onWindow(phase: 'start' | 'end'): void;
  /** Each server's CPU seconds over the window, by name (empty until the window has ended). */
  parts(): Record<string, number>;
}

/** `onServerCpu` gets the summed seconds when the window ends; the servers are read as the list stands then. */
export function serverCpuWindow(
  servers: ReadonlyArray<readonly [string, RunningServer]>,
  onServerCpu?: (seconds: number) => void,
): ServerCpuWindow {
  const cpu = () => servers.map(([, s]) => s.cpuSeconds());
  let cpu0: number[] = [];
  let parts: Record<string, number> = {};
  return {
    onWindow(phase) {
      if (phase === 'start') {
        cpu0 = cpu();
        return;
      }
      const used = cpu().map((c, i) => c - cpu0[i]!);
      parts = Object.fromEntries(servers.map(([name], i) => [name, used[i]!]));
      onServerCpu?.(used.reduce((a, b) => a + b, 0));
    },
    parts: () => parts,
  };
}
