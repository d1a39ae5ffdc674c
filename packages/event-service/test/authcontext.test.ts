// The intake records who published each event (handlers/authcontext.ts: the CloudEvents authcontext attributes),
// replacing whatever the producer wrote there: a direct client as its authenticator admitted it, an in-process
// producer as the system, a leaf link's message by its Gateway-Auth header, or the link itself without one. The
// gateway's side (the stamp, its clients) is event-gateway test/identity.test.ts. Real service, the official `nats`
// client, Debian's nats-server 2.9 as a leaf.
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { connect, headers, StringCodec, type MsgHdrs } from 'nats';
import { AUTH_HEADER } from '@event-broker/shared';
import { type NatsLeaf, natsServerSkip, startNatsLeaf } from '@event-broker/test-support/nats-server';
import { tmpDir } from '@event-broker/test-support/tmp';
import { until, within } from '@event-broker/test-support/wait';
import { startEventService, type EventService } from '../src/index.js';

const sc = StringCodec();
const HOST = '127.0.0.1';
const WAIT_MS = 10_000;

interface Stored {
  id: string;
  authtype?: string;
  authid?: string;
  authclaims?: string;
}

const event = (id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ specversion: '1.0', id, source: '/t', type: 'nodeTerminated', ...extra });

/** The stored event `id` as the feed answers it, or undefined while it is not stored. */
async function stored(svc: EventService, id: string): Promise<Stored | undefined> {
  const answer = JSON.parse(
    (await svc.request('$EVENTS.FEED.QUERY', JSON.stringify({ id }), { timeoutMs: WAIT_MS })).string(),
  ) as { event?: Stored };
  return answer.event;
}

const authOf = (e: Stored | undefined) => ({ authtype: e?.authtype, authid: e?.authid, authclaims: e?.authclaims });

function storeService(dir: string, more: Record<string, unknown> = {}): Promise<EventService> {
  return startEventService({
    service: { host: HOST, port: 0 },
    store: { path: path.join(dir, 'events.db') },
    log: { level: 'silent' },
    ...more,
  } as never);
}

test("a producer's authtype, authid and authclaims are replaced, even ones validation would refuse: a client with no credential is unauthenticated", async (t) => {
  const svc = await storeService(tmpDir(t));
  t.after(() => svc.close());
  const nc = await within(connect({ servers: `${HOST}:${svc.port}` }), 'connect');
  t.after(() => nc.close());
  const claimed = { authtype: 'system', authid: 'root', authclaims: { admin: true } };
  const reply = JSON.parse(
    sc.decode((await nc.request('events.nodeTerminated', sc.encode(event('net', claimed)), { timeout: WAIT_MS })).data),
  ) as { id?: string };
  assert.equal(reply.id, 'net', 'accepted: what it claimed is not kept, so not judged');
  assert.deepEqual(authOf(await stored(svc, 'net')), {
    authtype: 'unauthenticated',
    authid: undefined,
    authclaims: undefined,
  });

  const inproc = JSON.parse((await svc.request('events.nodeTerminated', event('inproc', claimed))).string()) as {
    id?: string;
  };
  assert.equal(inproc.id, 'inproc');
  assert.deepEqual(authOf(await stored(svc, 'inproc')), {
    authtype: 'system',
    authid: 'in-process',
    authclaims: undefined,
  });
});

describe(
  'a nats-server leaf: its messages are named by their Gateway-Auth header, or by the link',
  { skip: natsServerSkip() },
  () => {
    let svc: EventService;
    let leaf: NatsLeaf;
    const dir = tmpDir({ after }, 'authcontext-');
    before(async () => {
      svc = await storeService(dir, {
        leafnodes: { host: HOST, port: 0, authorization: { users: [{ user: 'edge', password: 'edge-pw' }] } },
      });
      leaf = await startNatsLeaf(svc.leafnodePort!, { userInfo: 'edge:edge-pw@' });
    });
    after(async () => {
      await leaf?.stop();
      await svc?.close();
    });

    /** Publishes through the leaf until the service has stored it (the link's interest may still be on its way). */
    async function viaLeaf(id: string, h?: MsgHdrs): Promise<Stored> {
      const nc = await within(connect({ servers: `${HOST}:${leaf.clientPort}` }), 'leaf client');
      try {
        let got: Stored | undefined;
        await until(
          () => {
            // The same id again is a duplicate: stored once.
            nc.publish(
              'events.nodeTerminated',
              sc.encode(event(id, { authtype: 'system', authid: 'root' })),
              h === undefined ? {} : { headers: h },
            );
            void stored(svc, id).then((e) => (got ??= e));
            return got !== undefined;
          },
          `${id} is stored`,
          WAIT_MS,
        );
        return got!;
      } finally {
        await nc.close();
      }
    }

    const stamp = (v: string) => {
      const h = headers();
      h.set(AUTH_HEADER, v);
      return h;
    };

    it('without the header: the link, as the user it authenticated as', async () => {
      assert.deepEqual(authOf(await viaLeaf('leaf-plain')), {
        authtype: 'service_account',
        authid: 'edge',
        authclaims: undefined,
      });
    });

    it("with one readable header: its value, the leaf's word (the gateway removes its clients' copies; a leaf server does not)", async () => {
      const e = await viaLeaf(
        'leaf-one',
        stamp(JSON.stringify({ authtype: 'app_user', authid: 'carol', authclaims: '{"iss":"x"}' })),
      );
      assert.deepEqual(authOf(e), { authtype: 'app_user', authid: 'carol', authclaims: '{"iss":"x"}' });
    });

    it('with two copies, or one that is not an AuthContext: unknown', async () => {
      const two = stamp(JSON.stringify({ authtype: 'app_user', authid: 'carol' }));
      two.append(AUTH_HEADER.toUpperCase(), JSON.stringify({ authtype: 'app_user', authid: 'dave' }));
      assert.deepEqual(authOf(await viaLeaf('leaf-two', two)), {
        authtype: 'unknown',
        authid: undefined,
        authclaims: undefined,
      });
      assert.deepEqual(authOf(await viaLeaf('leaf-bad', stamp('{"authtype":"root"}'))), {
        authtype: 'unknown',
        authid: undefined,
        authclaims: undefined,
      });
    });
  },
);
