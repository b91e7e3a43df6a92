import { BACKUP_USAGE } from '../../src/services/backup-restore/backup-cli';
import { runTs } from './process';

/** The CLI's commands and their one-line summaries (flags included), from `cli help`. */
export async function cliCommands(): Promise<Map<string, string>> {
  const help = runTs('src/cli.ts', {}, ['help']);
  if ((await help.exited) !== 0) throw new Error(`cli help failed: ${help.stderr()}`);
  return new Map([...help.stdout().matchAll(/^ {2}([a-z][a-z:-]*) +(.*)$/gm)].map((m) => [m[1], m[2]] as const));
}

/** What a document's CLI calls name that the CLI lacks: unknown commands, backup subcommands and flags. */
export function unknownCliReferences(
  calls: Array<{ command: string; rest: string }>,
  commands: Map<string, string>,
): string[] {
  const problems: string[] = [];
  for (const { command, rest } of calls) {
    const summary = commands.get(command);
    if (summary === undefined) {
      problems.push(`unknown command ${command}`);
      continue;
    }
    const sub = /^ ([a-z]+)/.exec(rest)?.[1];
    if (command === 'backup' && sub && !BACKUP_USAGE.split(/[ |]+/).includes(sub))
      problems.push(`unknown backup subcommand ${sub}`);
    for (const flag of rest.match(/--[a-z-]+/g) ?? [])
      if (!summary.includes(flag)) problems.push(`${command}: unknown flag ${flag}`);
  }
  return problems;
}
