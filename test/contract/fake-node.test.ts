import { ClusterClient } from "../../src/client/index.js";
import type { InstallTarget } from "../../src/protocol/index.js";
import { FakeNode } from "../controller/fake-node.js";
import { NatsServer } from "../harness/nats-server.js";
import { workContract, type Outcome } from "./work-contract.js";

/** The fake node reads how to end an op from its target's URI. */
const URI = "contract://";

workContract("the controller tests' fake node", async () => {
  const server = await NatsServer.start();
  const connect = (name: string) => ClusterClient.connect({ servers: [server.url], name });
  const [client, nodeClient] = await Promise.all([connect("contract-controller"), connect("contract-fake")]);
  const fake = new FakeNode(nodeClient, {
    nodeId: "contract-fake",
    behave: (op) => (op.target?.uri.slice(URI.length) as Outcome | undefined) ?? "succeed",
  });
  await fake.start();
  return {
    nodeId: fake.nodeId,
    client,
    target: async (outcome: Outcome, backend: string): Promise<InstallTarget> => ({
      name: backend,
      uri: `${URI}${outcome}`,
      mirrors: [],
    }),
    dispose: async () => {
      await fake.stop();
      await Promise.all([client.close(), nodeClient.close()]);
      await server.dispose();
    },
  };
});
