// The gateway's [upstream] credentials (issue 11, finding 2): the leaf CONNECT carries the user/password or token
// the hub asks for, as a nats-server 2.9 leaf remote sends its URL's user info, and never shows them (logs,
// --print-config). Checked against Debian's nats-server as the hub with leafnodes { authorization {} } and against
// the event service's own [leafnodes.authorization]; wrong credentials keep the link down and say why.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'nats';
import { ConfigError } from '@event-broker/shared';
import { startEventService } from '@event-broker/event-service';
import { formatGatewayConfig, resolveGatewayConfig } from '../src/config.js';
import { parseUpstreamUrl } from '../src/config-decoders.js';
import { requireNatsServer, startNatsServer } from '@event-broker/test-support/nats-server';
import { freePort } from '@event-broker/test-support/processes';
import { until, within } from '@event-broker/test-support/wait';
import {
  LogCapture,
  devPki,
  externalClient,
  gatewayWants,
  getJson,
  record,
  startTestGateway,
} from './helpers/bridge.js';

// bcrypt of "s3cret" in the $2a$ spelling `nats server passwd` prints.
const S3CRET_BCRYPT = '$2a$10$P3PRfLVxh/JQvidla7bMhOOJQ3oLTcjh7YMn.lKIQCcBAxOFLoQ4e';
/** Plain TCP upstream: no certificate (the defaults of startTestGateway name the dev upstream certificate). */
const NO_TLS = { cert_path: undefined, key_path: undefined, root_ca_path: undefined };

async function natsHub(t: TestContext): Promise<{ port: number; leafPort: number; httpPort: number }> {
  const leafPort = await freePort();
  const httpPort = await freePort();
  const { port } = await startNatsServer(
    t,
    `http: "127.0.0.1:${httpPort}"
leafnodes {
  listen: "127.0.0.1:${leafPort}"
  authorization {
    users: [ { user: "gw", password: "${S3CRET_BCRYPT}" } ]
    timeout: 2
  }
}`,
  );
  return { port, leafPort, httpPort };
}

test('nats-server as the hub with leafnode authorization: the gateway attaches with [upstream] user and password, and messages cross', async (t) => {
  if (!requireNatsServer(t)) return;
  const pki = await devPki(t);
  const hub = await natsHub(t);
  const logs = new LogCapture();
  const gateway = await startTestGateway(t, pki, `nats://127.0.0.1:${hub.leafPort}`, {
    config: { upstream: { urls: [`nats://127.0.0.1:${hub.leafPort}`], ...NO_TLS, user: 'gw', password: 's3cret' } },
    logs,
  });
  const plain = await within(
    connect({ servers: `127.0.0.1:${hub.port}`, reconnect: false, timeout: 3000 }),
    'hub client',
  );
  t.after(() => plain.close());
  const token = await pki.devToken('cred', { pub: { allow: ['cred.up'] }, sub: { allow: ['cred.down'] } });
  const outside = await externalClient(t, pki, gateway.port, token);

  const up = record(plain, 'cred.up');
  await plain.flush();
  await until(() => gatewayWants(gateway, 'cred.up'), "the hub's interest reaches the gateway");
  outside.publish('cred.up', 'through an authenticated link');
  await until(() => up.msgs.length === 1, 'gateway client → nats-server hub');

  const down = record(outside, 'cred.down');
  await outside.flush();
  await until(async () => {
    const z = await getJson<{ leafs: { subscriptions_list?: string[] }[] }>(
      `http://127.0.0.1:${hub.httpPort}/leafz?subs=1`,
    );
    return (z.leafs[0]?.subscriptions_list ?? []).includes('cred.down');
  }, "the gateway's interest reaches nats-server");
  plain.publish('cred.down', 'back down');
  await until(() => down.msgs.length === 1, 'nats-server hub → gateway client');
  assert.doesNotMatch(logs.text, /s3cret/, 'the password never reaches a log line');
});

test('nats-server as the hub refuses a wrong password: the link stays down and lastError says Authorization Violation', async (t) => {
  if (!requireNatsServer(t)) return;
  const pki = await devPki(t);
  const hub = await natsHub(t);
  const logs = new LogCapture();
  await assert.rejects(
    startTestGateway(t, pki, `nats://127.0.0.1:${hub.leafPort}`, {
      config: {
        upstream: { urls: [`nats://127.0.0.1:${hub.leafPort}`], ...NO_TLS, user: 'gw', password: 'not-the-password' },
      },
      logs,
    }),
    /Authorization Violation/,
  );
  assert.doesNotMatch(logs.text, /not-the-password/);
});

test('the event service as the hub: [upstream] token against [leafnodes.authorization] token; a wrong one stays down', async (t) => {
  const pki = await devPki(t);
  const service = await startEventService({
    service: { host: '127.0.0.1', port: 0 },
    leafnodes: { host: '127.0.0.1', port: 0, authorization: { token: 'leaf-token-right' } } as never,
    log: { level: 'silent' },
  });
  t.after(() => service.close());
  const url = `nats://127.0.0.1:${service.leafnodePort}`;
  const logs = new LogCapture();
  const gateway = await startTestGateway(t, pki, url, {
    config: { upstream: { urls: [url], ...NO_TLS, token: 'leaf-token-right' } },
    logs,
  });
  assert.equal(gateway.uplink.up, true);
  // Messages cross both ways over the token-authenticated link.
  const token = await pki.devToken('tok', { pub: { allow: ['tok.up'] }, sub: { allow: ['tok.down'] } });
  const outside = await externalClient(t, pki, gateway.port, token);
  const inside: string[] = [];
  service.subscribe('tok.up', { callback: (m) => inside.push(m.string()) });
  await until(() => gatewayWants(gateway, 'tok.up'), "the service's interest reaches the gateway");
  outside.publish('tok.up', 'up');
  await until(() => inside.length === 1, 'gateway client → service');
  const down = record(outside, 'tok.down');
  await outside.flush();
  await until(() => {
    service.publish('tok.down', 'down');
    return down.msgs.length > 0;
  }, 'service → gateway client');
  await assert.rejects(
    startTestGateway(t, pki, url, {
      config: { upstream: { urls: [url], ...NO_TLS, token: 'leaf-token-wrong' } },
      logs,
    }),
    /Authorization Violation/,
  );
  assert.doesNotMatch(logs.text, /leaf-token-(right|wrong)/, 'tokens never reach a log line');
});

test('[upstream] credentials: redacted by --print-config, paired as nats-server pairs them, never in a URL', () => {
  const base = {
    tls: { cert_path: '/x/s.pem', key_path: '/x/k.pem', root_ca_path: '/x/ca.pem' },
    auth: { secret_path: '/dev/null', issuer: 'i', audience: 'a' },
  };
  // resolveGatewayConfig reads the [auth] key file: /dev/null has no key, so format the validated input directly.
  const refusedWith = (upstream: Record<string, unknown>, re: RegExp) => {
    assert.throws(
      () => resolveGatewayConfig({ ...base, upstream: { urls: ['nats://127.0.0.1:7422'], ...upstream } } as never),
      (err: unknown) => err instanceof ConfigError && re.test(err.message),
      `${JSON.stringify(upstream)} → ${re}`,
    );
  };
  refusedWith({ user: 'gw' }, /upstream\.password: .*user/);
  refusedWith({ password: 'pw' }, /upstream\.user: .*password/);
  refusedWith({ token: 't', user: 'gw', password: 'pw' }, /upstream\.token: /);
  const parsed = parseUpstreamUrl('nats://gw:pw@127.0.0.1:7422');
  assert.equal(parsed.ok, false);
  assert.match(!parsed.ok ? parsed.reason : '', /\[upstream\] user and password/);
});

test('--print-config shows <redacted> for [upstream] password and token', async (t) => {
  const pki = await devPki(t);
  const secretPath = pki.write('hmac', 'x'.repeat(40));
  const config = resolveGatewayConfig({
    tls: { cert_path: pki.file('gateway.pem'), key_path: pki.file('gateway-key.pem'), root_ca_path: pki.ca },
    auth: { secret_path: secretPath, issuer: 'i', audience: 'a' },
    upstream: { urls: ['nats://127.0.0.1:7422'], user: 'gw', password: 'pw-shown-nowhere' },
  });
  const text = formatGatewayConfig(config);
  assert.match(text, /user = "gw"/);
  assert.match(text, /password = "<redacted>"/);
  assert.doesNotMatch(text, /pw-shown-nowhere/);
  const withToken = formatGatewayConfig(
    resolveGatewayConfig({
      tls: { cert_path: pki.file('gateway.pem'), key_path: pki.file('gateway-key.pem'), root_ca_path: pki.ca },
      auth: { secret_path: secretPath, issuer: 'i', audience: 'a' },
      upstream: { urls: ['nats://127.0.0.1:7422'], token: 'tok-shown-nowhere' },
    }),
  );
  assert.match(withToken, /token = "<redacted>"/);
  assert.doesNotMatch(withToken, /tok-shown-nowhere/);
});

test('[upstream] credentials that would cross the network in clear (nats:// to another host, no upstream TLS) are warned of at start, naming the setting and host, never the secret', async (t) => {
  const pki = await devPki(t);
  // TEST-NET-1 (RFC 5737): never answers; the gateway keeps dialling in the background, which is all this needs.
  const remote = 'nats://192.0.2.1:7422';
  const cases: Array<{
    what: string;
    upstream: Record<string, unknown>;
    warned: { setting: string; host: string } | undefined;
  }> = [
    {
      what: 'a token over nats:// to another host',
      upstream: { urls: [remote], ...NO_TLS, token: 'tok-SECRET-1' },
      warned: { setting: 'upstream.token', host: '192.0.2.1' },
    },
    {
      what: 'a password over nats:// to a host name',
      upstream: { urls: ['nats://hub.invalid:7422'], ...NO_TLS, user: 'gw', password: 'pw-SECRET-2' },
      warned: { setting: 'upstream.password', host: 'hub.invalid' },
    },
    {
      what: 'a token over tls://',
      upstream: { urls: ['tls://192.0.2.1:7422'], ...NO_TLS, token: 'tok-SECRET-3' },
      warned: undefined,
    },
    {
      what: 'a token with [upstream] root_ca_path (TLS whatever the scheme)',
      upstream: { urls: [remote], cert_path: undefined, key_path: undefined, token: 'tok-SECRET-4' },
      warned: undefined,
    },
    {
      what: 'a token over nats:// to loopback',
      upstream: { urls: ['nats://127.0.0.1:1'], ...NO_TLS, token: 'tok-SECRET-5' },
      warned: undefined,
    },
    { what: 'no credentials', upstream: { urls: [remote], ...NO_TLS }, warned: undefined },
  ];
  for (const c of cases) {
    const logs = new LogCapture();
    await startTestGateway(t, pki, String((c.upstream.urls as string[])[0]), {
      config: { upstream: c.upstream as never },
      logs,
      waitUp: false,
    });
    const lines = logs.lines.filter((l) => l.msg.startsWith('upstream credentials'));
    if (c.warned === undefined) {
      assert.deepEqual(lines, [], c.what);
    } else {
      assert.equal(lines.length, 1, `${c.what}: one warning`);
      assert.equal(lines[0]!.level, 40, `${c.what}: at warn`);
      assert.equal(lines[0]!.setting, c.warned.setting, c.what);
      assert.equal(lines[0]!.host, c.warned.host, c.what);
    }
    assert.doesNotMatch(logs.text, /SECRET/, `${c.what}: no secret in the log`);
  }
});
