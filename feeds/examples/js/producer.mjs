// A tickroom producer in JavaScript, with the `nats` npm package
// (docs/feeds.md, "A JavaScript producer"). It publishes ticks on
// market.<SYMBOL>, a status object on feed.demo.status named by the
// Tickroom-Event header, and a bot message on chat.lobby, stored by
// JetStream (it waits for the ack). It holds nothing tickroom needs: it is
// an example of the wire contract, run by cmd/tickroom/jsproducer_test.go.
// One connection, one sequential loop; it drains the connection on exit.
//
//   npm ci && node producer.mjs
//
// Environment: NATS_URL (nats://127.0.0.1:4222), SYMBOL (DEMO), COUNT
// (ticks to send, 0 = forever), INTERVAL_MS (250), ROOM (lobby).
import { connect, headers, JSONCodec } from "nats";

const url = process.env.NATS_URL || "nats://127.0.0.1:4222";
const symbol = process.env.SYMBOL || "DEMO";
const count = Number(process.env.COUNT || 0);
const intervalMs = Number(process.env.INTERVAL_MS || 250);
const room = process.env.ROOM || "lobby";

const jc = JSONCodec();
const nc = await connect({ servers: url.split(","), name: "tickroom-js-producer", maxReconnectAttempts: -1 });
const js = nc.jetstream();

// A tick's symbol must equal the subject's last token; price > 0; time in
// RFC 3339 (milliseconds, UTC) or unix ms.
function tick(price) {
  return {
    symbol,
    price: Math.round(price * 100) / 100,
    size: 1 + Math.floor(Math.random() * 500),
    time: new Date().toISOString(),
  };
}

let price = 42.5;
try {
  for (let i = 0; count === 0 || i < count; i++) {
    price *= 1 + (Math.random() - 0.5) * 0.002;
    const t = tick(price);
    nc.publish(`market.${symbol}`, jc.encode(t));

    // Any JSON object on feed.*, with an event name in the header.
    const h = headers();
    h.set("Tickroom-Event", "status");
    nc.publish("feed.demo.status", jc.encode({ symbol, price: t.price, n: i + 1 }), { headers: h });

    if (i === 0) {
      // A bot message: chat is persisted, so publish through JetStream and
      // wait for the stream's ack.
      const ack = await js.publish(`chat.${room}`, jc.encode({ user: "js-bot", text: `${symbol} opened at ${t.price}` }));
      console.log(`chat.${room} stored as ${ack.stream} #${ack.seq}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  await nc.flush();
  console.log(`published ${count} ticks on market.${symbol}`);
} finally {
  await nc.drain();
}
