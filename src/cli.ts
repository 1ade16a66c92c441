// `npx tessera <command>`: `start` is the server's own entry; every other command is in app/cli.ts,
// which a test runs in-process with its own environment and output.
const argv = process.argv.slice(2);
if (argv[0] === 'start') {
  await import('./main.js');
} else {
  const { runCli } = await import('./app/cli.js');
  process.exitCode = await runCli(argv, {
    env: process.env,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  });
}
