// Quoting a failed child process (our service, a generator) in one line of the report.

/** The line of a child's stderr that says what went wrong: a Node error's message line, else the last line. */
export function errorLine(stderr: string): string {
  const lines = stderr
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '');
  return (lines.find((l) => /Error\b/.test(l)) ?? lines.at(-1) ?? '(no stderr)').trim().slice(0, 300);
}
