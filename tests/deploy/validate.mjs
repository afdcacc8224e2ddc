// Validates rendered Kubernetes manifests offline, as kubeconform -strict would with a cluster's
// schemas: each object against the Kubernetes OpenAPI schema of its kind (the validators of the
// npm package kubernetes-models), plus a strict pass that rejects fields the kind does not have
// (the package's validators let unknown fields through; its type declarations list the real
// ones). The Prometheus Operator's ServiceMonitor and PrometheusRule, which kubernetes-models does
// not know, are checked here for the fields and shapes the operator's CRDs require.
//
//   node tests/deploy/validate.mjs RENDERED.yaml...     one line per object, exit 1 on any failure
//
// tests/deploy/chart_test.mjs imports validateManifests().
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import YAML from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const modules = path.join(here, "node_modules");

// The module path of a kind's model: "apps/v1" -> kubernetes-models/apps/v1, "v1" -> .../v1.
function modelDir(apiVersion) {
  return path.join(modules, "kubernetes-models", apiVersion);
}

// ---- Strict fields, from kubernetes-models' .d.ts files -------------------------------------
// Each model file declares `export interface IName { "field"?: Type; ... }` and imports the
// interfaces of its fields. A field's type is a named interface, an Array<> of one, a string map
// of one ({ [key: string]: T; }), or something without fields of its own (string, number, enum
// literals, IntOrString, Quantity, inline object types), which is not looked into.

const interfaceCache = new Map(); // .d.ts path -> {fields: Map(name -> type text), imports}

function parseDeclarations(file) {
  if (interfaceCache.has(file)) return interfaceCache.get(file);
  const text = fs.readFileSync(file, "utf8").replace(/\/\*\*[\s\S]*?\*\//g, "");
  const imports = new Map();
  for (const m of text.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)) {
    const spec = m[2];
    const resolved = spec.startsWith(".")
      ? path.resolve(path.dirname(file), spec.replace(/\.js$/, ".d.ts"))
      : path.join(modules, spec.replace(/\.js$/, "") + ".d.ts");
    imports.set(m[1], resolved);
  }
  const body = text.match(/export interface I\w+( extends TypeMeta)? \{\n([\s\S]*?)\n\}/);
  let fields = null; // null: a type alias, nothing to look into
  if (body) {
    // A kind's interface extends TypeMeta: apiVersion and kind.
    fields = new Map(body[1] ? [["apiVersion", "string"], ["kind", "string"]] : []);
    let current = null;
    for (const line of body[2].split("\n")) {
      const m = line.match(/^ {4}"([^"]+)"\??: (.*)$/);
      if (m) {
        current = m[1];
        fields.set(current, m[2]);
      } else if (current) {
        fields.set(current, fields.get(current) + " " + line.trim());
      }
    }
  }
  const parsed = { fields, imports };
  interfaceCache.set(file, parsed);
  return parsed;
}

// The .d.ts file a field type refers to, with how to step into the value: "one", "array", "map".
function fieldShape(typeText, imports) {
  const t = typeText.trim().replace(/;$/, "").trim();
  let m = t.match(/^(IIoK8s\w+)$/);
  if (m && imports.has(m[1])) return { file: imports.get(m[1]), step: "one" };
  m = t.match(/^Array<(IIoK8s\w+)>$/);
  if (m && imports.has(m[1])) return { file: imports.get(m[1]), step: "array" };
  m = t.match(/^\{\s*\[key: string\]: (IIoK8s\w+);\s*\}$/);
  if (m && imports.has(m[1])) return { file: imports.get(m[1]), step: "map" };
  return null;
}

function unknownFields(value, file, where, out) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return;
  const { fields, imports } = parseDeclarations(file);
  if (!fields) return;
  for (const [key, child] of Object.entries(value)) {
    const childWhere = where ? `${where}.${key}` : key;
    if (!fields.has(key)) {
      out.push(`${childWhere}: unknown field (not in the ${path.basename(file, ".d.ts")} schema)`);
      continue;
    }
    const shape = fieldShape(fields.get(key), imports);
    if (!shape || child === null || typeof child !== "object") continue;
    if (shape.step === "one") unknownFields(child, shape.file, childWhere, out);
    if (shape.step === "array" && Array.isArray(child)) {
      child.forEach((item, i) => unknownFields(item, shape.file, `${childWhere}[${i}]`, out));
    }
    if (shape.step === "map") {
      for (const [k, v] of Object.entries(child)) unknownFields(v, shape.file, `${childWhere}.${k}`, out);
    }
  }
}

// ---- Prometheus Operator kinds (monitoring.coreos.com/v1) -----------------------------------

const promDuration = /^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$/;
const isStringMap = (v) =>
  v !== null && typeof v === "object" && !Array.isArray(v) &&
  Object.values(v).every((x) => typeof x === "string");

function only(obj, allowed, where, errors) {
  for (const key of Object.keys(obj ?? {})) {
    if (!allowed.includes(key)) errors.push(`${where}.${key}: unknown field`);
  }
}

// The ServiceMonitor fields of the operator's CRD that a chart would set (a subset: anything
// else is reported as unknown, so that a typo cannot pass).
const serviceMonitorSpecFields = ["endpoints", "selector", "namespaceSelector", "jobLabel",
  "targetLabels", "podTargetLabels", "sampleLimit", "attachMetadata"];
const endpointFields = ["port", "targetPort", "path", "scheme", "params", "interval",
  "scrapeTimeout", "honorLabels", "honorTimestamps", "authorization", "basicAuth", "oauth2",
  "tlsConfig", "relabelings", "metricRelabelings", "followRedirects", "enableHttp2",
  "proxyUrl", "filterRunning", "trackTimestampsStaleness"];

function checkServiceMonitor(obj, errors) {
  const spec = obj.spec;
  if (!spec || typeof spec !== "object") return errors.push("spec: required");
  only(spec, serviceMonitorSpecFields, "spec", errors);
  if (!spec.selector || typeof spec.selector !== "object") errors.push("spec.selector: required object");
  if (!Array.isArray(spec.endpoints) || spec.endpoints.length === 0) {
    return errors.push("spec.endpoints: required, at least one");
  }
  spec.endpoints.forEach((e, i) => {
    const w = `spec.endpoints[${i}]`;
    only(e, endpointFields, w, errors);
    if (typeof e.port !== "string" && e.targetPort === undefined) errors.push(`${w}.port: a port name is required`);
    if (e.path !== undefined && !/^\//.test(e.path)) errors.push(`${w}.path: must start with /`);
    if (e.scheme !== undefined && !["http", "https"].includes(e.scheme)) errors.push(`${w}.scheme: http or https`);
    for (const d of ["interval", "scrapeTimeout"]) {
      if (e[d] !== undefined && !promDuration.test(String(e[d]))) errors.push(`${w}.${d}: not a Prometheus duration: ${e[d]}`);
    }
    if (e.honorLabels !== undefined && typeof e.honorLabels !== "boolean") errors.push(`${w}.honorLabels: boolean`);
    if (e.authorization !== undefined) {
      const a = e.authorization;
      only(a, ["type", "credentials"], `${w}.authorization`, errors);
      if (!a.credentials || typeof a.credentials.name !== "string" || !a.credentials.name ||
          typeof a.credentials.key !== "string" || !a.credentials.key) {
        errors.push(`${w}.authorization.credentials: a Secret's name and key are required`);
      }
    }
  });
}

function checkPrometheusRule(obj, errors) {
  const spec = obj.spec;
  if (!spec || !Array.isArray(spec.groups)) return errors.push("spec.groups: required array");
  only(spec, ["groups"], "spec", errors);
  const names = new Set();
  spec.groups.forEach((g, i) => {
    const w = `spec.groups[${i}]`;
    only(g, ["name", "interval", "rules", "limit", "partial_response_strategy", "query_offset"], w, errors);
    if (typeof g.name !== "string" || !g.name) errors.push(`${w}.name: required string`);
    if (names.has(g.name)) errors.push(`${w}.name: duplicate group ${g.name}`);
    names.add(g.name);
    if (g.interval !== undefined && !promDuration.test(String(g.interval))) errors.push(`${w}.interval: not a duration`);
    if (!Array.isArray(g.rules)) return errors.push(`${w}.rules: required array`);
    g.rules.forEach((r, j) => {
      const rw = `${w}.rules[${j}]`;
      only(r, ["record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"], rw, errors);
      if ((r.record === undefined) === (r.alert === undefined)) errors.push(`${rw}: exactly one of record and alert`);
      if (typeof r.expr !== "string" && typeof r.expr !== "number") errors.push(`${rw}.expr: required`);
      if (r.for !== undefined && !promDuration.test(String(r.for))) errors.push(`${rw}.for: not a duration`);
      if (r.record !== undefined && (r.for !== undefined || r.annotations !== undefined)) {
        errors.push(`${rw}: a recording rule has no for or annotations`);
      }
      for (const m of ["labels", "annotations"]) {
        if (r[m] !== undefined && !isStringMap(r[m])) errors.push(`${rw}.${m}: a map of strings`);
      }
    });
  });
}

const customKinds = {
  "monitoring.coreos.com/v1/ServiceMonitor": checkServiceMonitor,
  "monitoring.coreos.com/v1/PrometheusRule": checkPrometheusRule,
};

// ---- Entry points ----------------------------------------------------------------------------

// Validates each object (plain JS values, e.g. YAML documents' toJS()). Returns one result per
// object: {kind, name, errors: [string]}; an empty `errors` is a pass.
export async function validateManifests(objects) {
  const results = [];
  for (const obj of objects) {
    const kind = obj?.kind;
    const name = obj?.metadata?.name ?? "(no name)";
    const errors = [];
    if (typeof obj?.apiVersion !== "string" || typeof kind !== "string") {
      results.push({ kind: String(kind), name, errors: ["apiVersion and kind are required"] });
      continue;
    }
    if (typeof obj.metadata?.name !== "string" || !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(obj.metadata.name)) {
      errors.push(`metadata.name: not a valid Kubernetes name: ${obj.metadata?.name}`);
    }
    const custom = customKinds[`${obj.apiVersion}/${kind}`];
    if (custom) {
      custom(obj, errors);
      results.push({ kind, name, errors });
      continue;
    }
    const dts = path.join(modelDir(obj.apiVersion), `${kind}.d.ts`);
    if (!fs.existsSync(dts)) {
      results.push({ kind, name, errors: [`no schema for ${obj.apiVersion} ${kind}`] });
      continue;
    }
    const model = await import(pathToFileURL(path.join(modelDir(obj.apiVersion), `${kind}.js`)).href);
    try {
      new model[kind](obj).validate();
    } catch (e) {
      errors.push(...String(e.message).split(/, (?=data)/));
    }
    unknownFields(obj, dts, "", errors);
    results.push({ kind, name, errors });
  }
  return results;
}

// Parses a multi-document YAML text into objects (empty documents left out), with YAML 1.1's
// rules as Kubernetes reads them (0440 is octal, yes is true). A YAML error throws, naming the
// document.
export function parseManifests(text) {
  const objects = [];
  YAML.parseAllDocuments(text, { version: "1.1" }).forEach((doc, i) => {
    if (doc.errors.length) throw new Error(`document ${i + 1}: ${doc.errors[0].message}`);
    const obj = doc.toJS();
    if (obj !== null && obj !== undefined) objects.push(obj);
  });
  return objects;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let failed = 0;
  let total = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of await validateManifests(parseManifests(fs.readFileSync(file, "utf8")))) {
      total++;
      if (r.errors.length) {
        failed++;
        console.log(`FAIL ${r.kind}/${r.name}\n  ${r.errors.join("\n  ")}`);
      } else {
        console.log(`OK   ${r.kind}/${r.name}`);
      }
    }
  }
  console.log(`${total - failed} passed, ${failed} failed`);
  process.exit(failed || total === 0 ? 1 : 0);
}
