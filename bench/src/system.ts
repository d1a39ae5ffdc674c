// What a result is only meaningful with: the machine, versions, commit and how busy the machine was.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { natsServerVersion } from '@event-broker/test-support/nats-server';

export interface SystemInfo {
  date: string;
  node: string;
  cpuModel: string;
  cores: number;
  kernel: string;
  commit: string;
  natsServer: string;
  /** 1-minute load average at the start: other work on the machine skews every figure. */
  loadAvg: number;
}

function gitCommit(): string {
  const rev = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' });
  if (rev.status !== 0) return 'unknown';
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' });
  return `${rev.stdout.trim()}${dirty.stdout?.trim() ? ' (uncommitted changes)' : ''}`;
}

export function systemInfo(): SystemInfo {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    node: process.version,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    kernel: `${os.type()} ${os.release()}`,
    commit: gitCommit(),
    natsServer: natsServerVersion() ?? 'not found',
    loadAvg: os.loadavg()[0] ?? 0,
  };
}
