import { progressReporter } from '../../../src/services/backup-restore/backup-cli';
import type { BackupProgress } from '../../../src/services/backup-restore/backup.types';

const at = (documentsDone: number, phase: BackupProgress['phase'] = 'dumping'): BackupProgress => ({
  phase,
  collectionsDone: Math.floor(documentsDone / 25),
  collectionsTotal: 4,
  documentsDone,
  documentsTotal: 100,
  bytes: documentsDone * 1024,
  etaSeconds: 100 - documentsDone,
});

describe('backup CLI progress', () => {
  it('when stderr is a terminal, then one bar is redrawn in place and ended with a newline', () => {
    const drawn: string[] = [];
    const lines: string[] = [];
    const p = progressReporter({ out: (l) => lines.push(l), tty: { write: (s) => drawn.push(s) } });
    for (const n of [0, 10, 55, 100]) p.listener(at(n));
    p.finish();
    expect(lines).toEqual([]);
    expect(drawn).toHaveLength(5);
    expect(drawn[2]).toBe(
      `\r\u001b[2K[${'#'.repeat(17)}${'.'.repeat(13)}]  55% dumping collections 2/4 documents 55/100 0.1 MiB eta 45s`,
    );
    expect(drawn[4]).toBe('\n');
  });

  it('when not a terminal, then plain lines, one per phase change or 10% step, no control characters', () => {
    const lines: string[] = [];
    const p = progressReporter({ out: (l) => lines.push(l) });
    for (let n = 0; n <= 100; n++) p.listener(at(n));
    p.listener(at(100, 'verifying'));
    p.finish();
    expect(lines).toHaveLength(12);
    expect(lines[0]).toBe('progress: dumping collections 0/4 documents 0/100 0.0 MiB eta 100s');
    expect(lines.at(-1)).toMatch(/^progress: verifying /);
    expect(lines.join('')).not.toContain('\r');
    expect(lines.join('')).not.toContain('\u001b');
  });
});
