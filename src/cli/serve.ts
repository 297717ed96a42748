// `berth serve`: starts the server, prints where it listens, and closes it cleanly on SIGINT/SIGTERM.

export interface ServeOptions {
  listen?: string;
  data?: string;
  database?: string;
  tlsCert?: string;
  tlsKey?: string;
  trustProxy?: boolean;
  tokenTtl?: number;
}

export async function serve(opts: ServeOptions): Promise<void> {
  // loaded here so that client commands never load the server's modules (database drivers and all)
  const { startServer } = await import('../server.js');
  const server = await startServer(opts);
  console.log(`berth listening on ${server.url}`);
  let closing = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (closing) {
      console.error(`berth: ${signal} again: exiting without waiting for requests to finish`);
      process.exit(1);
    }
    closing = true;
    console.error(`berth: ${signal}: closing…`);
    server.close().then(
      () => process.exit(0),
      (e: unknown) => {
        console.error(`berth: closing the server failed: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
