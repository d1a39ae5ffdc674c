// Fallback load generator when the native one (native/loadgen.c) cannot be built: same modes, arguments and JSON
// output, over raw sockets. Publishers write prebuilt PUB frames in big chunks; readers count MSG frames by
// skipping each payload by its declared size, without parsing subjects: the same method as the native raw client,
// in one thread. The report's generator-CPU column shows whether it kept up (near 100% of a core: it did not).
//   node node-loadgen.js <pub|fanout|reqrep|conns|subs> port=<p> [size= count= warmup= cap_ms= subs= queue= conns=
//                        sub= subjects= pub_port= tls_ca= tls_cert= tls_key= token_file=]
// fanout with pub_port=: the publisher connects there (over TLS with tls_ca=, presenting tls_cert/tls_key, the
// token_file's token in CONNECT) and probes until a message reaches the subscribers on port=, as loadgen.c does.
//
// This file is the entry: arguments (loadgen-args.ts), the mode, the exit. The connection is loadgen-conn.ts, the
// sending loadgen-publish.ts, the measuring loadgen-measure.ts, the modes loadgen-messaging.ts and loadgen-scale.ts.
import { parseArgs } from './loadgen-args.js';
import { GENERATOR } from './loadgen-conn.js';
import { out } from './loadgen-measure.js';
import { runFanout, runPub, runReqrep } from './loadgen-messaging.js';
import { runConns, runSubs } from './loadgen-scale.js';

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  if (a.mode === 'pub') await runPub(a);
  else if (a.mode === 'fanout') await runFanout(a);
  else if (a.mode === 'reqrep') await runReqrep(a);
  else if (a.mode === 'conns') await runConns(a);
  else if (a.mode === 'subs') await runSubs(a);
  else throw new Error(`unknown mode ${String(a.mode)}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    out({ generator: GENERATOR, error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  },
);
