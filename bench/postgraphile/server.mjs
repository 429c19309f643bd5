// PostGraphile 5 for `scripts/bench --peer postgraphile` (bench/peer.py starts it with this
// folder's own Node 22): the amber preset and the connection-filter plugin over one schema,
// POST /graphql and GET /healthz on 127.0.0.1, nothing else. Settings come from the
// environment: DATABASE_URL, PEER_SCHEMA (the schema of the customers view), PORT, and
// POOL_SIZE (bench/servers.py's DATABASE_CONNECTIONS, as for the other servers).
import { createServer } from "node:http";

import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";

const { DATABASE_URL, PEER_SCHEMA, PORT, POOL_SIZE } = process.env;
if (!DATABASE_URL || !PEER_SCHEMA || !PORT || !POOL_SIZE) {
  throw new Error("DATABASE_URL, PEER_SCHEMA, PORT and POOL_SIZE are required");
}

const preset = {
  extends: [PostGraphileAmberPreset, PostGraphileConnectionFilterPreset],
  // No global object ids: `id` stays the customer's own id, as the gateway answers it.
  disablePlugins: ["NodePlugin"],
  pgServices: [
    makePgService({
      connectionString: DATABASE_URL,
      schemas: [PEER_SCHEMA],
      poolConfig: { max: Number(POOL_SIZE) },
    }),
  ],
  grafserv: { graphiql: false, watch: false, websockets: false },
  grafast: { explain: false },
};

const serv = postgraphile(preset).createServ(grafserv);
const graphql = serv.createHandler();
const server = createServer((request, response) => {
  if (request.url === "/healthz") {
    response.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
    return;
  }
  graphql(request, response);
});
server.listen(Number(PORT), "127.0.0.1");
const stop = () => {
  server.close();
  serv.release().then(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
