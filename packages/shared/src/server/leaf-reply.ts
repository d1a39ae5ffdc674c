// A JetStream consumer's delivery that crossed a leaf link carries the stream subject of the message after the
// reply's last '@' (`LMSG _INBOX.x $JS.ACK.S.c.1.1.1.ts.0@orders.new`: the link's subject is the deliver subject,
// observed from nats-server 2.9.10). A nats-server hub shows its clients the stream subject and the plain ack reply,
// never the '@' form; a client of ours is shown the same (client.ts deliver). Only a JetStream ack reply is split: a
// client's own reply subject may hold an '@' and must reach its responder as it was sent.

const JS_ACK = '$JS.ACK.';

/** The subject and reply a client is shown for a delivery from a leaf link whose JetStream ack reply holds an '@'. */
export function leafReply(subject: string, reply: string): { subject: string; reply: string } {
  if (!reply.startsWith(JS_ACK)) return { subject, reply };
  const at = reply.lastIndexOf('@');
  if (at <= JS_ACK.length || at === reply.length - 1) return { subject, reply };
  return { subject: reply.slice(at + 1), reply: reply.slice(0, at) };
}
