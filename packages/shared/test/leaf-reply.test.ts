// leaf-reply.ts: the stream subject a JetStream delivery over a leaf link carries after its reply's last '@'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leafReply } from '../src/server/leaf-reply.js';

test('a JetStream delivery reply gives the stream subject and the plain ack reply', () => {
  assert.deepEqual(leafReply('_INBOX.x', '$JS.ACK.S.c.1.1.1.1796479073815604902.0@orders.new'), {
    subject: 'orders.new',
    reply: '$JS.ACK.S.c.1.1.1.1796479073815604902.0',
  });
  // The last '@' splits (a stream subject with an '@' of its own would be cut; the store's subjects have none).
  assert.deepEqual(leafReply('_INBOX.x', '$JS.ACK.a@b@c.d'), { subject: 'c.d', reply: '$JS.ACK.a@b' });
});

test("a client's own reply subject with an '@' is left as it came", () => {
  assert.deepEqual(leafReply('svc.echo', '_INBOX.user@example.com'), {
    subject: 'svc.echo',
    reply: '_INBOX.user@example.com',
  });
  assert.deepEqual(leafReply('svc.echo', 'replies.a@b'), { subject: 'svc.echo', reply: 'replies.a@b' });
});

test("a reply with nothing on one side of its '@' is left as it came", () => {
  assert.deepEqual(leafReply('s', '$JS.ACK.@orders'), { subject: 's', reply: '$JS.ACK.@orders' });
  assert.deepEqual(leafReply('s', '$JS.ACK.reply@'), { subject: 's', reply: '$JS.ACK.reply@' });
});
