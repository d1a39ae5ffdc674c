// The event service as a leaf of a real nats-server 2.9 hub ([[leafnodes.remotes]]): messages both ways between the
// hub's clients and the service's in-process and network subscribers, a request from the hub answered in the
// service, /leafz, /varz and /healthz showing the remote, what the hub's leaf INFO announces (JetStream, its
// domain), and an unreachable hub: 503 with the reason, then the redial once it is up.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { StringCodec } from 'nats';
import { collect, fence, uniqueSubject, untilFlows } from '@event-broker/test-support/flow';
import { natsServerSkip, startNatsLeaf } from '@event-broker/test-support/nats-server';
import { freePort } from '@event-broker/test-support/processes';
import { tmpDir } from '@event-broker/test-support/tmp';
import { eventually, until } from '@event-broker/test-support/wait';
import { client, HOST, LINK_MS, monitor, remotesUp, startHub, startLeafService } from './helpers/leaf-hub.js';

const sc = StringCodec();

describe('leafnode remotes against nats-server 2.9', { skip: natsServerSkip() }, () => {
  it('a hub subscriber gets what an in-process publisher of the service publishes, and the reverse', async (t: TestContext) => {
    const hub = await startHub(t);
    const svc = await startLeafService(t, [{ urls: [hub.leafUrl] }]);
    await remotesUp(svc);
    const nc = await client(t, hub.clientPort);
    const up = uniqueSubject('up');
    const atHub = collect(nc.subscribe(`${up}.>`));
    await untilFlows(
      () => svc.publish(`${up}.probe`, 'probe'),
      () => atHub.includes('probe'),
      'interest crosses up',
    );
    for (let i = 0; i < 50; i++) svc.publish(`${up}.m`, `m${i}`);
    await fence((m) => svc.publish(`${up}.m`, m), [atHub], 'to the hub');
    assert.deepEqual(
      atHub.filter((m) => m.startsWith('m')),
      Array.from({ length: 50 }, (_, i) => `m${i}`),
    );

    const down = uniqueSubject('down');
    const inProcess: string[] = [];
    svc.subscribe(`${down}.>`, { callback: (m) => void inProcess.push(sc.decode(m.data)) });
    // A network client of the service too: both are reached by the hub's publish.
    const ncSvc = await client(t, svc.port);
    const network = collect(ncSvc.subscribe(`${down}.>`));
    await ncSvc.flush();
    await untilFlows(
      () => nc.publish(`${down}.probe`, sc.encode('probe')),
      () => inProcess.includes('probe') && network.includes('probe'),
      'interest crosses down',
    );
    for (let i = 0; i < 50; i++) nc.publish(`${down}.m`, sc.encode(`d${i}`));
    await fence((m) => nc.publish(`${down}.m`, sc.encode(m)), [inProcess, network], 'from the hub');
    const want = Array.from({ length: 50 }, (_, i) => `d${i}`);
    assert.deepEqual(
      inProcess.filter((m) => m.startsWith('d')),
      want,
    );
    assert.deepEqual(
      network.filter((m) => m.startsWith('d')),
      want,
    );
  });

  it('a request from a hub client is answered by a responder in the service, and the reverse', async (t: TestContext) => {
    const hub = await startHub(t);
    const svc = await startLeafService(t, [{ urls: [hub.leafUrl] }]);
    await remotesUp(svc);
    const nc = await client(t, hub.clientPort);
    const subject = uniqueSubject('svc');
    svc.subscribe(subject, { callback: (m) => void m.respond(`svc:${sc.decode(m.data)}`) });
    const answer = await eventually(
      async () => {
        try {
          return sc.decode((await nc.request(subject, sc.encode('hi'), { timeout: 500 })).data);
        } catch {
          return undefined;
        }
      },
      (v) => v !== undefined,
      'the service answers a hub request',
      LINK_MS,
    );
    assert.equal(answer, 'svc:hi');
    const hubSide = uniqueSubject('hub');
    const sub = nc.subscribe(hubSide, { callback: (_e, m) => m.respond(sc.encode(`hub:${sc.decode(m.data)}`)) });
    await nc.flush();
    t.after(() => sub.unsubscribe());
    const back = await eventually(
      async () => {
        try {
          return sc.decode((await svc.request(hubSide, 'yo', { timeoutMs: 500 })).data);
        } catch {
          return undefined;
        }
      },
      (v) => v !== undefined,
      'the hub answers a service request',
      LINK_MS,
    );
    assert.equal(back, 'hub:yo');
  });

  it('with a [leafnodes] port too, a leaf attached to the service and a client of the hub reach each other through it', async (t: TestContext) => {
    const hub = await startHub(t);
    const svc = await startLeafService(t, [{ urls: [hub.leafUrl] }], { leafnodes: { host: HOST, port: 0 } });
    await remotesUp(svc);
    assert.ok(svc.leafnodePort! > 0);
    const leaf = await startNatsLeaf(svc.leafnodePort!);
    t.after(() => leaf.stop());
    const atLeaf = await client(t, leaf.clientPort);
    const atHub = await client(t, hub.clientPort);
    const down = uniqueSubject('transit.down');
    const gotLeaf = collect(atLeaf.subscribe(down));
    await atLeaf.flush();
    await untilFlows(
      () => atHub.publish(down, sc.encode('d')),
      () => gotLeaf.includes('d'),
      'hub → service → leaf',
    );
    const up = uniqueSubject('transit.up');
    const gotHub = collect(atHub.subscribe(up));
    await atHub.flush();
    await untilFlows(
      () => atLeaf.publish(up, sc.encode('u')),
      () => gotHub.includes('u'),
      'leaf → service → hub',
    );
    // /leafz lists both ends: the attached leaf (is_spoke false) and the remote (is_spoke true).
    const leafs = (await monitor(svc.monitorPort!, '/leafz')).body.leafs as { is_spoke: boolean }[];
    assert.deepEqual(leafs.map((l) => l.is_spoke).sort(), [false, true]);
  });

  it('/leafz lists the remote as nats-server lists a solicited leaf, /varz counts it, /healthz is ok while it is up', async (t: TestContext) => {
    const hub = await startHub(t);
    const svc = await startLeafService(t, [{ urls: [hub.leafUrl] }]);
    await remotesUp(svc);
    // No leafnode port: remotes alone open none, as nats-server.
    assert.equal(svc.leafnodePort, undefined);
    const leafz = await monitor(svc.monitorPort!, '/leafz');
    const leafs = leafz.body.leafs as Record<string, unknown>[];
    assert.equal(leafz.body.leafnodes, 1);
    assert.equal(leafs.length, 1);
    assert.equal(leafs[0]!.is_spoke, true);
    assert.equal(leafs[0]!.ip, HOST);
    assert.equal(leafs[0]!.port, hub.leafPort);
    assert.equal(leafs[0]!.account, '$G');
    // The hub's own /leafz sees one leaf (nats-server 2.9 lists no names there).
    assert.equal((await monitor(hub.httpPort, '/leafz')).body.leafnodes, 1);
    assert.equal((await monitor(svc.monitorPort!, '/varz')).body.leafnodes, 1);
    assert.deepEqual(await monitor(svc.monitorPort!, '/healthz'), { status: 200, body: { status: 'ok' } });
  });

  it("the hub's leaf INFO: JetStream and its domain are on the remote's hub info", async (t: TestContext) => {
    const plain = await startHub(t);
    const js = await startHub(t, { extra: [`jetstream { store_dir: "${tmpDir(t)}" }`] });
    const named = await startHub(t, { extra: [`jetstream { store_dir: "${tmpDir(t)}", domain: HUBD }`] });
    const svc = await startLeafService(t, [
      { urls: [plain.leafUrl] },
      { urls: [js.leafUrl] },
      { urls: [named.leafUrl] },
    ]);
    await remotesUp(svc);
    const [a, b, c] = svc.remotes().map((r) => r.hub!);
    assert.equal(a!.jetstream, false);
    assert.equal(a!.domain, undefined);
    assert.equal(b!.jetstream, true);
    assert.equal(b!.domain, undefined);
    assert.equal(c!.jetstream, true);
    assert.equal(c!.domain, 'HUBD');
    assert.equal(c!.url, named.leafUrl);
  });

  it('an unreachable remote makes /healthz 503 naming it, and the link comes up once the hub does', async (t: TestContext) => {
    const ports = { client: await freePort(), leaf: await freePort(), http: await freePort() };
    const url = `nats://${HOST}:${ports.leaf}`;
    const svc = await startLeafService(t, [{ urls: [url] }]);
    await until(() => svc.remotes()[0]!.lastError !== undefined, 'the first dial fails', LINK_MS);
    const [r] = svc.remotes();
    assert.equal(r!.state, 'connecting');
    assert.equal(r!.url, url);
    assert.equal(r!.lastError!.code, 'EUPLINK_CONNECT');
    const health = await monitor(svc.monitorPort!, '/healthz');
    assert.equal(health.status, 503);
    assert.equal(health.body.status, 'unavailable');
    assert.match(String(health.body.error), new RegExp(`leafnode remote ${url} not connected \\(EUPLINK_CONNECT\\)`));
    assert.equal(((await monitor(svc.monitorPort!, '/leafz')).body.leafs as unknown[]).length, 0);
    const hub = await startHub(t, { ports });
    await remotesUp(svc);
    assert.deepEqual(await monitor(svc.monitorPort!, '/healthz'), { status: 200, body: { status: 'ok' } });
    const nc = await client(t, hub.clientPort);
    const subject = uniqueSubject('late');
    const got = collect(nc.subscribe(subject));
    await untilFlows(
      () => svc.publish(subject, 'x'),
      () => got.includes('x'),
      'flows after the redial',
    );
    // The hub going away again: 503 again, within bounds.
    await hub.server.stop('SIGKILL');
    await until(
      async () => (await monitor(svc.monitorPort!, '/healthz')).status === 503,
      'healthz 503 after the hub died',
      LINK_MS,
    );
  });
});
