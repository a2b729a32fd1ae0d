#!/usr/bin/env node
// The `signpost` command: `serve` (the default) runs the server; the other commands are clients of one.
import { Command } from 'commander';
import { serveCommand } from './serve.ts';
import { VERSION_LINE } from './version.ts';
import { deregisterCommand } from './verbs/deregister.ts';
import { lsCommand } from './verbs/ls.ts';
import { registerCommand } from './verbs/register.ts';
import { resolveCommand } from './verbs/resolve.ts';
import { watchCommand } from './verbs/watch.ts';

const program = new Command('signpost')
  .description('DNS-SRV service discovery: register over HTTP, resolve over DNS')
  .version(VERSION_LINE, '-v, --version', 'print the version and the Node it runs on');
const serve = serveCommand();
program.addCommand(serve, { isDefault: true });
for (const verb of [registerCommand(), deregisterCommand(), lsCommand(), resolveCommand(), watchCommand()]) program.addCommand(verb);
// `signpost --help` shows the flags of `serve` too: it is the command almost everyone runs.
program.addHelpText('after', () => `\nsignpost serve (the default command):\n${serve.helpInformation()}`);

// `serve` is the default and takes no arguments, so commander would call a mistyped command
// "too many arguments for 'serve'": name the mistake and the commands instead.
const first = process.argv[2];
const commands = program.commands.map((command) => command.name());
if (first !== undefined && !first.startsWith('-') && first !== 'help' && !commands.includes(first)) {
  console.error(`signpost: unknown command "${first}"; the commands are ${commands.join(', ')} (signpost --help)`);
  process.exit(1);
}

await program.parseAsync();
