// The deployment artefacts checked with the real tools: the Helm chart (helm lint --strict, helm
// template, the Kubernetes schemas of validate.mjs, and assertions on what it renders), the
// agent's systemd unit (systemd-analyze) and the Dockerfile (its runtime packages against the
// binary's `ldd`). One case per ctest test (tests/deploy/CMakeLists.txt, label "deploy"):
//
//   node tests/deploy/chart_test.mjs lint|sqlite|etcd-ha|features|rejects|systemd|dockerfile
//
// Environment: DROVER_BINARY (the built drover, for its flags and its ldd), HELM (default
// .tools/helm/helm, which scripts/setup.sh installs). Each check prints "ok" or "FAIL" with what
// it expected; the exit status is 1 if any failed.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { parseManifests, validateManifests } from "./validate.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const SOURCE = path.resolve(here, "../..");
const CHART = path.join(SOURCE, "helm/drover");
const HELM = process.env.HELM || path.join(SOURCE, ".tools/helm/helm");
const BINARY = process.env.DROVER_BINARY || "";
const RELEASE = "rel";
const NAMESPACE = "drover";

// Flags the chart passes in etcd mode that the leader election work adds to `drover
// controller`; accepted while the binary does not list them yet (and checked like any other
// flag once it does).
const PENDING_CONTROLLER_FLAGS = ["--leader-elect-lease-duration", "--leader-elect-renew-deadline",
  "--leader-elect-retry-period", "--replica-id", "--advertise-address"];

// ---- Checks and tools ------------------------------------------------------------------------

let failures = 0;
function check(condition, message, detail) {
  if (condition) {
    console.log(`ok    ${message}`);
  } else {
    failures++;
    console.log(`FAIL  ${message}${detail === undefined ? "" : `\n      got: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`}`);
  }
  return condition;
}
function fatal(message) {
  console.log(`FAIL  ${message}`);
  process.exit(1);
}

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "drover-deploy-test-"));
process.on("exit", () => fs.rmSync(scratch, { recursive: true, force: true }));

function run(command, args, options = {}) {
  const r = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 << 20, ...options });
  if (r.error) fatal(`cannot run ${command}: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, output: r.stdout + r.stderr };
}

function helm(args) {
  if (!fs.existsSync(HELM)) fatal(`no helm at ${HELM}: run scripts/setup.sh`);
  // Helm's own config and cache in a scratch folder, not the user's HOME.
  const env = { ...process.env, HELM_CONFIG_HOME: path.join(scratch, "helm-config"),
    HELM_CACHE_HOME: path.join(scratch, "helm-cache"), HELM_DATA_HOME: path.join(scratch, "helm-data") };
  return run(HELM, args, { env });
}

// Renders the chart with `args` (values files, --set ...); fails the test if helm does.
function render(args, chart = CHART) {
  const r = helm(["template", RELEASE, chart, "--namespace", NAMESPACE, ...args]);
  if (!check(r.status === 0, `helm template ${args.join(" ") || "(default values)"} renders`, r.stderr)) {
    process.exit(1);
  }
  return parseManifests(r.stdout);
}

// The rendered NOTES.txt: helm template leaves it out, so a copy of the chart renders it as the
// data of a ConfigMap.
function renderNotes(args) {
  const copy = path.join(scratch, `notes-${Math.random().toString(36).slice(2)}`, "drover");
  fs.cpSync(CHART, copy, { recursive: true });
  const notes = fs.readFileSync(path.join(copy, "templates/NOTES.txt"), "utf8");
  fs.rmSync(path.join(copy, "templates/NOTES.txt"));
  fs.writeFileSync(path.join(copy, "templates/_notes_test.tpl"),
    `{{- define "test.notes" -}}\n${notes}\n{{- end }}\n`);
  fs.writeFileSync(path.join(copy, "templates/notes-test.yaml"),
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ include "test.notes" . | toJson }}\n`);
  const objects = render([...args, "--show-only", "templates/notes-test.yaml"], copy);
  return objects[0].data.notes;
}

async function validateSchemas(objects, what) {
  for (const r of await validateManifests(objects)) {
    check(r.errors.length === 0, `${what}: ${r.kind}/${r.name} matches its schema`, r.errors.join("; "));
  }
}

const byKind = (objects, kind) => objects.filter((o) => o.kind === kind);
function one(objects, kind) {
  const found = byKind(objects, kind);
  if (!check(found.length === 1, `exactly one ${kind}`, found.length)) process.exit(1);
  return found[0];
}
const isSubset = (small, big) => Object.entries(small ?? {}).every(([k, v]) => big?.[k] === v);

// "--name=value" arguments as a map (the chart always writes flags with "=").
function flagsOf(args) {
  const flags = new Map();
  for (const a of args) {
    const m = a.match(/^(--[a-z][a-z-]*)=(.*)$/s);
    if (m) flags.set(m[1], m[2]);
  }
  return flags;
}

function helpFlags(command) {
  if (!BINARY || !fs.existsSync(BINARY)) fatal(`DROVER_BINARY (${BINARY || "unset"}) is not a built drover`);
  const r = run(BINARY, [command, "--help"]);
  return new Set(r.stdout.match(/--[a-z][a-z-]*/g) ?? []);
}

// The token file's lines: [{token, role}]; malformed lines fail.
function parseTokenFile(text) {
  const entries = [];
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (!t || t.startsWith("#")) continue;
    const fields = t.split(/[ \t]+/);
    check(fields.length === 2, `token file line has TOKEN ROLE`, t.replace(/^\S+/, "<token>"));
    entries.push({ token: fields[0], role: fields[1] });
  }
  return entries;
}

// ---- What every rendering must satisfy -------------------------------------------------------

// The controller's pod: probes, security, volumes, auth, Service; returns what the cases use.
function checkController(objects, what) {
  const deployment = one(objects, "Deployment");
  const pod = deployment.spec.template;
  const containers = pod.spec.containers;
  check(containers.length === 1 && containers[0].name === "controller", `${what}: one container, "controller"`);
  const c = containers[0];
  check(c.args[0] === "controller", `${what}: the container runs \`drover controller\``, c.args[0]);
  const flags = flagsOf(c.args);

  // Flags the binary knows (the election flags may still be pending).
  const known = helpFlags("controller");
  for (const flag of flagsOf(c.args).keys()) {
    const pending = PENDING_CONTROLLER_FLAGS.includes(flag) && !known.has(flag);
    if (pending) console.log(`note  ${flag} is not in \`drover controller --help\` yet (leader election in progress)`);
    check(known.has(flag) || pending, `${what}: ${flag} is a \`drover controller\` flag`);
  }

  // The API port, the probes on it.
  const listen = flags.get("--listen") ?? "";
  const apiPort = c.ports.find((p) => p.name === "api");
  check(apiPort && listen.endsWith(`:${apiPort.containerPort}`), `${what}: container port "api" is the --listen port`, { listen, ports: c.ports });
  const probePort = (p) => p?.httpGet?.port === "api" || p?.httpGet?.port === apiPort?.containerPort;
  check(c.livenessProbe?.httpGet?.path === "/healthz" && probePort(c.livenessProbe), `${what}: liveness probe is GET /healthz on the API port`, c.livenessProbe);
  check(c.readinessProbe?.httpGet?.path === "/readyz" && probePort(c.readinessProbe), `${what}: readiness probe is GET /readyz on the API port`, c.readinessProbe);
  const scheme = flags.has("--tls-cert") ? "HTTPS" : "HTTP";
  check(c.livenessProbe.httpGet.scheme === scheme && c.readinessProbe.httpGet.scheme === scheme, `${what}: probes use ${scheme}, as the controller serves`);

  // Non-root, read-only root file system, nothing to escalate to.
  const ps = pod.spec.securityContext ?? {};
  const cs = c.securityContext ?? {};
  check(ps.runAsNonRoot === true && cs.runAsNonRoot === true, `${what}: runAsNonRoot on pod and container`);
  check(ps.runAsUser === 65532 && (cs.runAsUser ?? 65532) === 65532, `${what}: runs as uid 65532 (the image's user)`, { pod: ps.runAsUser, container: cs.runAsUser });
  check(cs.readOnlyRootFilesystem === true, `${what}: read-only root file system`);
  check(cs.allowPrivilegeEscalation === false, `${what}: allowPrivilegeEscalation false`);
  check(Array.isArray(cs.capabilities?.drop) && cs.capabilities.drop.includes("ALL") && !cs.capabilities.add, `${what}: all capabilities dropped, none added`, cs.capabilities);
  check((cs.seccompProfile ?? ps.seccompProfile)?.type === "RuntimeDefault", `${what}: seccomp RuntimeDefault`);
  check(pod.spec.automountServiceAccountToken === false, `${what}: no Kubernetes API token mounted`);

  // Volumes: every mount has its volume; /tmp is an emptyDir.
  const volumes = new Map((pod.spec.volumes ?? []).map((v) => [v.name, v]));
  const mounts = new Map((c.volumeMounts ?? []).map((m) => [m.mountPath, m]));
  for (const m of mounts.values()) check(volumes.has(m.name), `${what}: mount ${m.mountPath} has volume ${m.name}`);
  check(volumes.get(mounts.get("/tmp")?.name)?.emptyDir !== undefined, `${what}: /tmp is an emptyDir (the root file system is read-only)`);
  const volumeAt = (file) => {
    const dir = path.posix.dirname(file);
    const m = mounts.get(dir);
    return m ? { mount: m, volume: volumes.get(m.name), name: path.posix.basename(file) } : null;
  };

  // The token file: a mounted Secret key, well formed when the chart makes it.
  const tokenFile = flags.get("--auth-token-file");
  const at = tokenFile && volumeAt(tokenFile);
  check(at?.volume?.secret && at.mount.readOnly === true, `${what}: --auth-token-file is in a read-only Secret volume`, tokenFile);
  const secretName = at?.volume?.secret?.secretName;
  const secretKey = at?.volume?.secret?.items?.find((i) => i.path === at.name)?.key;
  const secret = byKind(objects, "Secret").find((s) => s.metadata.name === secretName);
  let tokens = [];
  if (secret) {
    const data = secret.stringData ?? {};
    check(typeof data[secretKey] === "string", `${what}: Secret ${secretName} has the token file key "${secretKey}"`);
    tokens = parseTokenFile(data[secretKey] ?? "");
    for (const { token, role } of tokens) {
      check(token.length >= 16 && !token.startsWith("#"), `${what}: the ${role} token has at least 16 characters`);
      check(/^(admin|agent|(writer|reader):(\*|[a-z0-9]([-a-z0-9_.]*[a-z0-9])?))$/.test(role), `${what}: role ${role} is one the controller knows`);
    }
    check(new Set(tokens.map((t) => t.token)).size === tokens.length, `${what}: every token is on one line only`);
    for (const [key, role] of [["admin-token", "admin"], ["agent-token", "agent"], ["metrics-token", "reader:*"]]) {
      check(tokens.some((t) => t.token === data[key] && t.role === role), `${what}: Secret key ${key} is the file's ${role} token`);
    }
  }

  // The Service reaches these pods on the API port.
  const service = one(objects, "Service");
  check(isSubset(service.spec.selector, pod.metadata.labels) && Object.keys(service.spec.selector).length > 0, `${what}: the Service selects the controller's pods`, service.spec.selector);
  check(isSubset(deployment.spec.selector.matchLabels, pod.metadata.labels), `${what}: the Deployment's selector matches its pods`);
  const servicePort = service.spec.ports.find((p) => p.targetPort === "api" || p.targetPort === apiPort?.containerPort);
  check(servicePort !== undefined, `${what}: a Service port targets the API port`, service.spec.ports);

  return { deployment, pod, container: c, flags, volumes, mounts, volumeAt, service, servicePort, secret, tokens };
}

function checkMonitoring(objects, ctl, what) {
  const rulesFile = YAML.parse(fs.readFileSync(path.join(CHART, "files/prometheus-rules.yaml"), "utf8"));
  const rule = one(objects, "PrometheusRule");
  check(isDeepStrictEqual(rule.spec.groups, rulesFile.groups), `${what}: PrometheusRule spec.groups equal files/prometheus-rules.yaml's groups`);
  check(rule.spec.groups.length > 0 && rule.spec.groups.every((g) => g.rules.length > 0), `${what}: the PrometheusRule has rules`);

  const dashboardBytes = fs.readFileSync(path.join(CHART, "files/grafana-dashboard.json"));
  const dashboards = byKind(objects, "ConfigMap").filter((c) => c.metadata.labels?.grafana_dashboard !== undefined);
  check(dashboards.length === 1, `${what}: one ConfigMap labelled grafana_dashboard`, dashboards.length);
  const dashboard = dashboards[0];
  check(dashboard?.metadata.labels.grafana_dashboard === "1", `${what}: the label is grafana_dashboard: "1" (a string)`);
  const jsonKeys = Object.keys(dashboard?.data ?? {}).filter((k) => k.endsWith(".json"));
  check(jsonKeys.length === 1, `${what}: the dashboard ConfigMap has one .json key`, Object.keys(dashboard?.data ?? {}));
  const held = Buffer.from(dashboard?.data?.[jsonKeys[0]] ?? "", "utf8");
  check(held.equals(dashboardBytes), `${what}: the dashboard ConfigMap holds files/grafana-dashboard.json byte for byte`,
    `${held.length} bytes vs ${dashboardBytes.length}`);

  const monitor = one(objects, "ServiceMonitor");
  const endpoints = monitor.spec.endpoints;
  check(endpoints.length === 1, `${what}: the ServiceMonitor has one endpoint`);
  const e = endpoints[0];
  check(e.honorLabels === true, `${what}: the ServiceMonitor honours Drover's labels (honorLabels: true)`);
  check(e.port === ctl.servicePort.name, `${what}: the ServiceMonitor scrapes the Service's API port by name`, e.port);
  check(e.path === "/metrics", `${what}: the ServiceMonitor scrapes /metrics`);
  check(e.scheme === (ctl.flags.has("--tls-cert") ? "https" : "http"), `${what}: the scrape's scheme is the controller's`, e.scheme);
  check(isSubset(monitor.spec.selector.matchLabels, ctl.service.metadata.labels), `${what}: the ServiceMonitor selects the Service`);
  check(monitor.spec.namespaceSelector?.matchNames?.includes(NAMESPACE), `${what}: the ServiceMonitor looks in the release's namespace`);
  const credentials = e.authorization?.credentials;
  check(e.authorization?.type === "Bearer" && credentials?.name && credentials?.key, `${what}: the scrape presents a bearer token (/metrics needs a reader)`);
  if (ctl.secret && credentials?.name === ctl.secret.metadata.name) {
    const token = ctl.secret.stringData[credentials.key];
    const role = ctl.tokens.find((t) => t.token === token)?.role;
    check(role === "reader:*", `${what}: the scrape's token (${credentials.key}) is a reader:* token of the token file`, role);
  }
  return { rule, dashboard, monitor };
}

// ---- Cases -------------------------------------------------------------------------------------

const valuesFiles = {
  default: [],
  "etcd-ha": ["-f", path.join(CHART, "values-etcd-ha.yaml")],
  features: ["-f", path.join(here, "values-features.yaml")],
};

const cases = {
  // helm lint --strict: no warning or error for each values file.
  lint() {
    for (const [name, args] of Object.entries(valuesFiles)) {
      const r = helm(["lint", "--strict", CHART, ...args]);
      check(r.status === 0 && !/\[(WARNING|ERROR)\]/.test(r.output), `helm lint --strict passes with the ${name} values`, r.output);
    }
  },

  // Default values: SQLite, one replica on a PVC, replaced with Recreate.
  async sqlite() {
    const objects = render(valuesFiles.default);
    await validateSchemas(objects, "default values");
    const ctl = checkController(objects, "sqlite");
    const { deployment, flags } = ctl;
    check(deployment.spec.replicas === 1, "sqlite: exactly 1 replica", deployment.spec.replicas);
    check(deployment.spec.strategy?.type === "Recreate", "sqlite: strategy Recreate (never two processes on one database)", deployment.spec.strategy);
    check(flags.get("--store") === "sqlite", "sqlite: --store=sqlite", flags.get("--store"));
    const pvc = one(objects, "PersistentVolumeClaim");
    const dataDir = flags.get("--data-dir");
    const data = ctl.mounts.get(dataDir);
    check(data && ctl.volumes.get(data.name)?.persistentVolumeClaim?.claimName === pvc.metadata.name,
      `sqlite: --data-dir ${dataDir} is the mounted PersistentVolumeClaim ${pvc.metadata.name}`);
    check(!data?.readOnly, "sqlite: the data dir is writable");
    check(pvc.spec.accessModes.includes("ReadWriteOnce") && /^[0-9]/.test(pvc.spec.resources.requests.storage), "sqlite: the claim is ReadWriteOnce with a size");
    for (const flag of PENDING_CONTROLLER_FLAGS) check(!flags.has(flag), `sqlite: no ${flag} (no election on SQLite)`);
    for (const kind of ["PodDisruptionBudget", "ServiceMonitor", "PrometheusRule"]) {
      check(byKind(objects, kind).length === 0, `sqlite: no ${kind} by default`);
    }
    check(byKind(objects, "ConfigMap").length === 0, "sqlite: no ConfigMap by default (dashboard, manifests off)");
    check(ctl.pod.spec.securityContext.fsGroup === 65532, "sqlite: fsGroup 65532, so uid 65532 can write the volume");

    const notes = renderNotes(valuesFiles.default);
    check(notes.includes(`port-forward service/${RELEASE}-drover 9010:9010`), "NOTES: how to port-forward the API", notes);
    check(notes.includes("drover --server http://127.0.0.1:9010"), "NOTES: how to point drover at it");
    check(notes.includes(`get secret ${RELEASE}-drover-auth`) && notes.includes("admin-token") && notes.includes("agent-token"), "NOTES: where the admin and agent tokens are");
  },

  // values-etcd-ha.yaml: three replicas on etcd with leader election, PDB, anti-affinity, monitoring.
  async "etcd-ha"() {
    const values = YAML.parse(fs.readFileSync(path.join(CHART, "values-etcd-ha.yaml"), "utf8"));
    const objects = render(valuesFiles["etcd-ha"]);
    await validateSchemas(objects, "values-etcd-ha.yaml");
    const ctl = checkController(objects, "etcd-ha");
    const { deployment, flags, container } = ctl;
    check(values.replicaCount === 3 && deployment.spec.replicas === 3, "etcd-ha: 3 replicas", deployment.spec.replicas);
    check(deployment.spec.strategy?.type === "RollingUpdate", "etcd-ha: rolling update (the API stays up)", deployment.spec.strategy);
    check(flags.get("--store") === `etcd://${values.store.etcd.endpoints.join(",")}`, "etcd-ha: --store=etcd:// with the values' endpoints", flags.get("--store"));
    const election = {
      "--leader-elect-lease-duration": values.leaderElection.leaseDuration,
      "--leader-elect-renew-deadline": values.leaderElection.renewDeadline,
      "--leader-elect-retry-period": values.leaderElection.retryPeriod,
    };
    for (const [flag, value] of Object.entries(election)) {
      check(flags.get(flag) === value, `etcd-ha: ${flag}=${value}`, flags.get(flag));
    }
    const podName = container.env.find((e) => e.name === "POD_NAME");
    check(flags.get("--replica-id") === "$(POD_NAME)" && podName?.valueFrom?.fieldRef?.fieldPath === "metadata.name", "etcd-ha: --replica-id is the pod's name");
    const podIp = container.env.find((e) => e.name === "POD_IP");
    check(flags.get("--advertise-address") === "http://$(POD_IP):9010" && podIp?.valueFrom?.fieldRef?.fieldPath === "status.podIP",
      "etcd-ha: --advertise-address is the pod's IP (a Deployment's pod names do not resolve)", flags.get("--advertise-address"));
    check(byKind(objects, "PersistentVolumeClaim").length === 0 && !flags.has("--data-dir"), "etcd-ha: no PersistentVolumeClaim, no --data-dir");
    check(!(deployment.spec.template.spec.volumes ?? []).some((v) => v.persistentVolumeClaim), "etcd-ha: no volume claims in the pod");

    const pdb = one(objects, "PodDisruptionBudget");
    check(pdb.spec.maxUnavailable === 1, "etcd-ha: the PodDisruptionBudget lets one replica go at a time", pdb.spec);
    check(isDeepStrictEqual(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels), "etcd-ha: the PodDisruptionBudget selects the controller's pods");
    const anti = ctl.pod.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.[0];
    check(anti?.topologyKey === "kubernetes.io/hostname" && isSubset(anti.labelSelector.matchLabels, ctl.pod.metadata.labels),
      "etcd-ha: required anti-affinity keeps replicas on different nodes", ctl.pod.spec.affinity);

    const mon = checkMonitoring(objects, ctl, "etcd-ha");
    check(mon.monitor.metadata.labels.release === "kube-prometheus-stack" && mon.rule.metadata.labels.release === "kube-prometheus-stack",
      "etcd-ha: the monitoring labels of the values are on the ServiceMonitor and the PrometheusRule");

    const notes = renderNotes(valuesFiles["etcd-ha"]);
    check(notes.includes("3 controller replicas on etcd"), "NOTES: says 3 replicas on etcd", notes);
  },

  // Every optional branch: TLS, manifests, extra tokens, LoadBalancer, existingSecret.
  async features() {
    const values = YAML.parse(fs.readFileSync(path.join(here, "values-features.yaml"), "utf8"));
    const objects = render(valuesFiles.features);
    await validateSchemas(objects, "values-features.yaml");
    const ctl = checkController(objects, "features");
    const { flags, container } = ctl;
    check(container.image === `${values.image.repository}:${values.image.tag}`, "features: the image of the values", container.image);
    for (const flag of ["--tls-cert", "--tls-key"]) {
      const at = ctl.volumeAt(flags.get(flag) ?? "");
      check(at?.volume?.secret?.secretName === values.tls.secretName && at.mount.readOnly, `features: ${flag} is a file of Secret ${values.tls.secretName}`, flags.get(flag));
    }
    const manifestsDir = flags.get("--manifests");
    const manifestsMount = ctl.mounts.get(manifestsDir);
    const manifestsMap = byKind(objects, "ConfigMap").find((c) => c.metadata.name === ctl.volumes.get(manifestsMount?.name)?.configMap?.name);
    check(manifestsMount?.readOnly && manifestsMap !== undefined, `features: --manifests ${manifestsDir} is a mounted ConfigMap`);
    check(isDeepStrictEqual(manifestsMap?.data, values.manifests.files), "features: the manifests ConfigMap holds the values' files as they are");
    check(flags.get("--manifests-interval") === values.manifests.interval, "features: --manifests-interval from the values");
    check(container.args.slice(-values.controller.extraArgs.length).join(" ") === values.controller.extraArgs.join(" "), "features: extraArgs come last, as given");
    for (const extra of values.auth.extraTokens) {
      check(ctl.tokens.some((t) => t.token === extra.token && t.role === extra.role), `features: extra token with role ${extra.role} is in the token file`);
    }
    check(ctl.tokens.find((t) => t.role === "admin")?.token === values.auth.adminToken, "features: the given admin token is used");
    check(ctl.service.spec.type === "LoadBalancer" && ctl.servicePort.port === 443 && ctl.servicePort.nodePort === 30443, "features: LoadBalancer on port 443, node port 30443", ctl.service.spec);
    check(one(objects, "PersistentVolumeClaim").spec.storageClassName === "", 'features: storageClass "-" renders storageClassName ""');
    const mon = checkMonitoring(objects, ctl, "features");
    check(mon.monitor.spec.endpoints[0].tlsConfig?.insecureSkipVerify === true, "features: the scrape's tlsConfig is passed on");
    check(mon.dashboard.metadata.labels.team === "edge", "features: extra dashboard labels are kept");

    // Tokens from an existing Secret: the chart makes none and mounts that one.
    const existing = render(["--set", "auth.existingSecret=site-tokens", "--set", "auth.existingSecretKey=drover-tokens",
      "--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.tokenSecret.name=prom-token",
      "--set", "serviceMonitor.tokenSecret.key=token"]);
    await validateSchemas(existing, "auth.existingSecret");
    check(byKind(existing, "Secret").length === 0, "existingSecret: the chart creates no Secret");
    const ex = checkController(existing, "existingSecret");
    const at = ex.volumeAt(ex.flags.get("--auth-token-file"));
    check(at?.volume?.secret?.secretName === "site-tokens" && at.volume.secret.items[0].key === "drover-tokens", "existingSecret: the token file is key drover-tokens of Secret site-tokens");
    const credentials = one(existing, "ServiceMonitor").spec.endpoints[0].authorization.credentials;
    check(credentials.name === "prom-token" && credentials.key === "token", "existingSecret: the scrape's token is serviceMonitor.tokenSecret");
  },

  // Bad values end `helm template` with a non-zero status and a message naming the field.
  rejects() {
    const etcd = ["--set", "store.type=etcd", "--set", "store.etcd.endpoints={etcd-0.etcd:2379}"];
    const table = [
      { args: ["--set", "replicaCount=0"], field: "replicaCount", why: "replicaCount 0" },
      { args: ["--set", "replicaCount=3"], field: "replicaCount", why: "sqlite with replicaCount 3" },
      { args: ["--set", "store.type=postgres"], field: "store.type", why: "an unknown store type" },
      { args: ["--set", "replicaCount=three"], field: "replicaCount", why: "replicaCount not an integer" },
      { args: ["--set", "store.type=etcd"], field: "store.etcd.endpoints", why: "etcd without endpoints" },
      { args: [...etcd, "--set", "store.etcd.endpoints={http://etcd:2379}"], field: "store.etcd.endpoints", why: "an endpoint that is not HOST:PORT" },
      { args: [...etcd, "--set", "leaderElection.leaseDuration=fifteen"], field: "leaderElection.leaseDuration", why: "a lease duration that is not a duration" },
      { args: ["--set", "replicas=2"], field: "replicas", why: "an unknown top-level key (a typo of replicaCount)" },
      { args: ["--set", "auth.adminToken=short"], field: "auth.adminToken", why: "a token under 16 characters" },
      { args: ["--set", "tls.enabled=true"], field: "tls.secretName", why: "TLS without a Secret" },
      { args: ["--set", "service.type=Ingress"], field: "service.type", why: "an unknown Service type" },
    ];
    for (const { args, field, why } of table) {
      const r = helm(["template", RELEASE, CHART, ...args]);
      check(r.status !== 0 && r.stderr.includes(field), `rejected: ${why} (exit ${r.status}, message names ${field})`, r.stderr.trim());
    }
    // The same values made right render: the rejections above are for the reason given.
    for (const args of [["--set", "replicaCount=1"], [...etcd, "--set", "replicaCount=3"]]) {
      const r = helm(["template", RELEASE, CHART, ...args]);
      check(r.status === 0, `accepted: ${args.filter((a) => a !== "--set").join(" ")}`, r.stderr.trim());
    }
  },

  // packaging/systemd: systemd-analyze verify (no warning) and security, flags the agent knows.
  systemd() {
    const dir = path.join(SOURCE, "packaging/systemd");
    const unitText = fs.readFileSync(path.join(dir, "drover-agent.service"), "utf8");
    const directives = new Map();
    for (const line of unitText.split("\n")) {
      const m = line.match(/^([A-Za-z]+)=(.*)$/);
      if (m) directives.set(m[1], [...(directives.get(m[1]) ?? []), m[2]]);
    }
    const get = (key) => directives.get(key)?.at(-1);
    const execStart = get("ExecStart") ?? "";
    const shippedBinary = execStart.split(/\s+/)[0];
    check(shippedBinary === "/usr/local/bin/drover", "systemd: ExecStart runs /usr/local/bin/drover (where the docs install it)", shippedBinary);

    // Verify a copy whose ExecStart names the built binary (systemd-analyze checks that it
    // exists), with manage-node.conf as a drop-in beside it, as /etc/systemd/system would have.
    if (!BINARY || !fs.existsSync(BINARY)) fatal(`DROVER_BINARY (${BINARY || "unset"}) is not a built drover`);
    const units = path.join(scratch, "units");
    fs.mkdirSync(path.join(units, "drover-agent.service.d"), { recursive: true });
    fs.writeFileSync(path.join(units, "drover-agent.service"),
      unitText.replace(/^ExecStart=\S+/m, `ExecStart=${BINARY}`));
    const unit = path.join(units, "drover-agent.service");
    let r = run("systemd-analyze", ["verify", unit]);
    check(r.status === 0 && r.output.trim() === "", "systemd: systemd-analyze verify drover-agent.service is clean", r.output);
    r = run("systemd-analyze", ["security", "--offline=yes", "--threshold=20", unit]);
    const level = r.stdout.match(/Overall exposure level for \S+: ([0-9.]+)/)?.[1];
    check(r.status === 0 && level !== undefined, "systemd: exposure level at most 2.0 (systemd-analyze security)", level ?? r.output.slice(-400));
    fs.copyFileSync(path.join(dir, "manage-node.conf"), path.join(units, "drover-agent.service.d/manage-node.conf"));
    r = run("systemd-analyze", ["verify", unit]);
    check(r.status === 0 && r.output.trim() === "", "systemd: the unit with the manage-node.conf drop-in verifies clean", r.output);
    r = run("systemd-analyze", ["security", "--offline=yes", unit]);
    check(/User=\s/.test(r.stdout) || /runs as root|as root/i.test(r.stdout), "systemd: manage-node.conf makes the agent run as root", r.stdout.split("\n").filter((l) => /User/.test(l)).join("\n"));

    // The directives the agent's supervision and state depend on (docs/agent.md).
    check(get("KillMode") === "mixed", "systemd: KillMode=mixed (the agent stops its workloads itself)", get("KillMode"));
    check(get("Restart") === "on-failure", "systemd: Restart=on-failure");
    check(get("NoNewPrivileges") === "yes" && get("ProtectSystem") === "strict", "systemd: NoNewPrivileges=yes, ProtectSystem=strict");
    check(get("DynamicUser") === "yes" || (get("User") && get("User") !== "root"), "systemd: not root (DynamicUser or a user)");
    const state = get("StateDirectory");
    check(state && execStart.includes(`--data-dir %S/${state}`), "systemd: --data-dir is the StateDirectory", execStart);
    const seconds = (d) => { const m = String(d).match(/^([0-9]+)(s|min)?$/); return m ? Number(m[1]) * (m[2] === "min" ? 60 : 1) : NaN; };
    const graceFlag = execStart.match(/--stop-grace ([0-9]+)s/);
    const grace = graceFlag ? Number(graceFlag[1]) : 10;
    check(seconds(get("TimeoutStopSec")) > grace, `systemd: TimeoutStopSec (${get("TimeoutStopSec")}) leaves the agent its --stop-grace (${grace}s)`);

    // Every flag written in the unit and the env file is one `drover agent` knows.
    const known = helpFlags("agent");
    const envText = fs.readFileSync(path.join(dir, "drover-agent.env"), "utf8");
    const env = new Map([...envText.matchAll(/^([A-Z_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
    const written = [...execStart.matchAll(/--[a-z][a-z-]*/g), ...envText.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]);
    for (const flag of new Set(written)) check(known.has(flag), `systemd: ${flag} is a \`drover agent\` flag`);
    for (const name of ["DROVER_ADDR", "DROVER_TOKEN", "DROVER_AGENT_FLAGS"]) check(env.has(name), `systemd: the env file sets ${name}`);
    check(execStart.includes("$DROVER_AGENT_FLAGS"), "systemd: ExecStart passes $DROVER_AGENT_FLAGS");
    check(get("EnvironmentFile") === "/etc/drover/agent.env", "systemd: EnvironmentFile=/etc/drover/agent.env");
    const usage = run(BINARY, ["agent", "--help"]).stdout;
    check(usage.includes("$DROVER_ADDR") && usage.includes("$DROVER_TOKEN"), "systemd: drover agent reads DROVER_ADDR and DROVER_TOKEN");
  },

  // The Dockerfile's runtime packages cover the binary's shared libraries and exist in Debian 12.
  dockerfile() {
    const text = fs.readFileSync(path.join(SOURCE, "Dockerfile"), "utf8").replace(/\\\n/g, " ");
    const froms = [...text.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)].map((m) => ({ image: m[1], name: m[2] }));
    check(froms.length === 2 && froms[0].image === "debian:12" && froms[1].image === "debian:12-slim",
      "dockerfile: two stages, debian:12 then debian:12-slim", froms);
    const stages = text.split(/^FROM\s/m).slice(1);
    const build = stages[0] ?? "";
    const runtime = stages.at(-1) ?? "";
    check(/scripts\/setup\.sh --build-only/.test(build), "dockerfile: the build stage installs with scripts/setup.sh --build-only");
    check(/-DCMAKE_BUILD_TYPE=Release/.test(build) && /--target drover/.test(build), "dockerfile: a Release build of drover");
    check(new RegExp(`COPY --from=${froms[0].name} \\S*drover /usr/local/bin/drover`).test(runtime), "dockerfile: the runtime stage copies the binary from the build stage");
    check(/^USER 65532(:65532)?$/m.test(runtime), "dockerfile: USER 65532 (numeric: runAsNonRoot can check it)");
    check(/^ENTRYPOINT \["\/usr\/local\/bin\/drover"\]$/m.test(runtime), 'dockerfile: ENTRYPOINT ["/usr/local/bin/drover"]');
    check(!/apt-get install[^&]*\b(g\+\+|cmake|\S+-dev)\b/.test(runtime), "dockerfile: no compiler or -dev package at run time");

    const install = runtime.match(/apt-get install\s+((?:-\S+\s+)*)([^&]*)/);
    const packages = (install?.[2] ?? "").trim().split(/\s+/).filter((p) => p && !p.startsWith("-"));
    check(packages.length > 0, "dockerfile: the runtime stage installs packages by name", packages);
    for (const p of packages) {
      const known = run("dpkg-query", ["-W", "-f=${Status}", p]).stdout.includes("install ok installed") ||
        run("apt-cache", ["show", "--no-all-versions", p]).status === 0;
      check(known, `dockerfile: ${p} is a Debian 12 package`);
    }

    // ldd: each library's package is in the list (sanitizer runtimes aside: the image is a
    // plain Release build).
    if (!BINARY || !fs.existsSync(BINARY)) fatal(`DROVER_BINARY (${BINARY || "unset"}) is not a built drover`);
    const ldd = run("ldd", [BINARY]).stdout;
    check(!/not found/.test(ldd), "dockerfile: ldd finds every library of drover", ldd);
    const owners = new Map();
    for (const m of ldd.matchAll(/=>\s+(\/\S+)/g)) {
      const lib = m[1];
      if (/\/lib(asan|ubsan|lsan|tsan)\.so/.test(lib)) continue;
      const candidates = [lib, fs.realpathSync(lib), lib.replace(/^\/lib/, "/usr/lib"), fs.realpathSync(lib).replace(/^\/lib/, "/usr/lib")];
      let owner;
      for (const c of candidates) {
        const r = run("dpkg-query", ["-S", c]);
        if (r.status === 0) { owner = r.stdout.split(":")[0]; break; }
      }
      check(owner !== undefined, `dockerfile: ${path.basename(lib)} belongs to a Debian package`);
      if (owner) owners.set(owner, [...(owners.get(owner) ?? []), path.basename(lib)]);
    }
    for (const [owner, libs] of owners) {
      check(packages.includes(owner), `dockerfile: ${owner} (${libs.join(", ")}) is installed at run time`, packages.join(" "));
    }

    // The build context keeps what the build reads.
    const ignored = fs.readFileSync(path.join(SOURCE, ".dockerignore"), "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    const cmake = fs.readFileSync(path.join(SOURCE, "CMakeLists.txt"), "utf8");
    const dirs = [...cmake.matchAll(/^drover_library\(\S+ (\S+)/gm)].map((m) => m[1]);
    check(dirs.length > 0, "dockerfile: CMakeLists.txt names its library folders", dirs);
    for (const needed of [...dirs, "cli", "CMakeLists.txt", "scripts"]) {
      check(!ignored.some((pattern) => pattern === needed || pattern === `${needed}/` || (pattern.endsWith("*") && needed.startsWith(pattern.slice(0, -1)))),
        `dockerfile: .dockerignore keeps ${needed} in the build context`);
    }
  },
};

const name = process.argv[2];
if (!cases[name]) fatal(`usage: node chart_test.mjs ${Object.keys(cases).join("|")}`);
await cases[name]();
console.log(failures ? `${failures} check(s) failed` : "all checks passed");
process.exit(failures ? 1 : 0);
