// The Bloblang interpreter: Mapping::Apply runs a parsed Program on one message. All state lives
// in a per-call Context (the lazily parsed input, variables, the output value and metadata), so
// one Mapping serves any number of threads. Values are borrowed from the document, variables and
// literals wherever possible; only what ends up in the output is copied (or moved, see
// Statement::move_from_this).
#include <algorithm>
#include <cstring>
#include <optional>
#include <string>

#include "bloblang/ast.h"
#include "bloblang/bloblang.h"
#include "bloblang/builtins.h"
#include "bloblang/internals.h"
#include "bloblang/json_rewrite.h"
#include "bloblang/operators.h"

namespace drover::bloblang {
namespace {

const Json kNull;

struct Context {
  Context(const Message& in, const Environment& environment, size_t variable_count)
      : input(in), env(environment), variables(variable_count) {}

  const Message& input;
  const Environment& env;

  // The input document, parsed on first use.
  enum class DocumentState : uint8_t { kUnparsed, kParsed, kFailed };
  DocumentState document_state = DocumentState::kUnparsed;
  Json document;
  std::string document_error;  // "parse as json: ..." or "message is empty"

  std::vector<std::optional<Json>> variables;
  Value root = Value::Nothing();
  std::map<std::string, std::string> metadata;
  bool metadata_copied = false;

  std::string error;
  // The error is about `this` on a message that is not JSON; Bento reports it alone, without
  // the wrapping of the expressions around it.
  bool error_is_context = false;

  bool Fail(std::string message) {
    error = std::move(message);
    error_is_context = false;
    return false;
  }

  std::map<std::string, std::string>& Metadata() {
    if (!metadata_copied) {
      metadata = input.metadata;
      metadata_copied = true;
    }
    return metadata;
  }
};

bool EnsureDocument(Context& c) {
  if (c.document_state == Context::DocumentState::kUnparsed) {
    if (c.input.content.empty()) {
      c.document_state = Context::DocumentState::kFailed;
      c.document_error = "message is empty";
    } else {
      std::string problem;
      if (ParseMessageJson(c.input.content, &c.document, &problem)) {
        c.document_state = Context::DocumentState::kParsed;
      } else {
        c.document_state = Context::DocumentState::kFailed;
        c.document_error = "parse as json: " + problem;
      }
    }
  }
  return c.document_state == Context::DocumentState::kParsed;
}

bool FailNoDocument(Context& c, const std::vector<std::string>& path) {
  c.error = "unable to reference message as structured (with 'this" +
            (path.empty() ? std::string() : "." + DotPath(path)) + "'): " + c.document_error;
  c.error_is_context = true;
  return false;
}

// An array index segment: digits only, within bounds.
std::optional<size_t> ArrayIndex(const std::string& segment, size_t size) {
  if (segment.empty() || segment.size() > 18) return std::nullopt;
  size_t index = 0;
  for (char ch : segment) {
    if (ch < '0' || ch > '9') return std::nullopt;
    index = index * 10 + static_cast<size_t>(ch - '0');
  }
  if (index >= size) return std::nullopt;
  return index;
}

// The value at `path` below `v` (as Bento's gabs.S: missing keys, and paths through scalars,
// are null, shown here as nullptr).
template <typename J>
J* Lookup(J* v, const std::vector<std::string>& path, size_t from = 0) {
  for (size_t i = from; i < path.size(); ++i) {
    const std::string& segment = path[i];
    if (v->is_object()) {
      auto it = v->find(segment);
      if (it == v->end()) return nullptr;
      v = &*it;
    } else if (v->is_array()) {
      auto index = ArrayIndex(segment, v->size());
      if (!index) return nullptr;
      v = &(*v)[*index];
    } else {
      return nullptr;
    }
  }
  return v;
}

// `value` narrowed to `path`, keeping it borrowed when it was.
Value Narrow(Value value, const std::vector<std::string>& path) {
  if (path.empty()) return value;
  if (!value.is_value()) return Value::Borrow(&kNull);
  if (value.ref != nullptr) {
    const Json* found = Lookup(value.ref, path);
    return Value::Borrow(found != nullptr ? found : &kNull);
  }
  Json* found = Lookup(&value.own, path);
  if (found == nullptr) return Value::Borrow(&kNull);
  return Value::Own(std::move(*found));
}

// Go's "%v" of a value, for "resolved to a non-boolean value" messages.
std::string GoFormatValue(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string:
      return v.get<std::string>();
    case Json::value_t::null:
      return "<nil>";
    case Json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) {
        if (i > 0) out += ' ';
        out += GoFormatValue(v[i]);
      }
      return out + "]";
    }
    case Json::value_t::object: {
      std::string out = "map[";
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ' ';
        first = false;
        out += it.key() + ":" + GoFormatValue(it.value());
      }
      return out + "]";
    }
    case Json::value_t::binary: {
      std::string out = "[";
      const auto& bytes = v.get_binary();
      for (size_t i = 0; i < bytes.size(); ++i) {
        if (i > 0) out += ' ';
        out += std::to_string(bytes[i]);
      }
      return out + "]";
    }
    default:
      return ToBentoString(v);
  }
}

// Go's "%T" of a value as Bento holds it.
std::string_view GoTypeName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string:
      return "string";
    case Json::value_t::binary:
      return "[]uint8";
    case Json::value_t::number_integer:
      return "int64";
    case Json::value_t::number_unsigned:
      return "json.Number";  // only parsed documents hold unsigned numbers
    case Json::value_t::number_float:
      return "float64";
    case Json::value_t::boolean:
      return "bool";
    case Json::value_t::array:
      return "[]interface {}";
    case Json::value_t::object:
      return "map[string]interface {}";
    default:
      return "<nil>";
  }
}

// Bento's value.TypeError with its `from` annotation: "expected bool value, got string from
// field `this.a` (\"x\")".
std::string TypeErrorFrom(std::string_view expected, const Value& actual, const std::string& from) {
  std::string out =
      "expected " + std::string(expected) + " value, got " + std::string(TypeName(actual));
  if (!from.empty()) out += " from " + from;
  if (actual.is_value()) {
    std::string text = ErrorValueText(actual.get());
    if (!text.empty()) out += " (" + text + ")";
  }
  return out;
}

bool Eval(const Node& n, Context& c, Value* out);

bool EvalFunction(const Node& n, Context& c, Value* out) {
  std::vector<Value> args;
  args.reserve(n.children.size());
  for (const NodePtr& a : n.children) {
    Value v;
    if (!Eval(*a, c, &v)) return false;
    args.push_back(std::move(v));
  }
  std::string problem;
  if (!CompleteFunctionArguments(n.function, &args, &problem)) return c.Fail(problem);
  switch (n.function) {
    case Function::kNow:
      *out = Value::Own(FormatRfc3339Nano(c.env.NowUnixNanos()));
      return true;
    case Function::kTimestampUnix: {
      int64_t nanos = c.env.NowUnixNanos();
      int64_t seconds = nanos / 1000000000;
      if (nanos % 1000000000 < 0) --seconds;
      *out = Value::Own(seconds);
      return true;
    }
    case Function::kUuidV4:
      *out = Value::Own(c.env.UuidV4());
      return true;
    case Function::kHostname:
      *out = Value::Own(c.env.Hostname());
      return true;
    case Function::kEnv: {
      std::optional<std::string> v = c.env.Env(args[0].get().get_ref<const std::string&>());
      *out = v ? Value::Own(std::move(*v)) : Value::Borrow(&kNull);
      return true;
    }
    case Function::kContent:
      *out = Value::Own(
          Json::binary(std::vector<uint8_t>(c.input.content.begin(), c.input.content.end())));
      return true;
    case Function::kMeta: {
      const std::string& key = args[0].get().get_ref<const std::string&>();
      if (key.empty()) {
        Json all = Json::object();
        for (const auto& [k, v] : c.input.metadata) all[k] = v;
        *out = Value::Own(std::move(all));
        return true;
      }
      auto it = c.input.metadata.find(key);
      // Bento's meta() reads values as strings, and an empty one as absent.
      if (it == c.input.metadata.end() || it->second.empty()) {
        *out = Value::Borrow(&kNull);
      } else {
        *out = Value::Own(it->second);
      }
      return true;
    }
    case Function::kDeleted:
      *out = Value::Deleted();
      return true;
  }
  return c.Fail("unsupported function");
}

bool EvalMethod(const Node& n, Context& c, Value* out) {
  const Node& target_node = *n.children[0];
  Value target;
  if (!Eval(target_node, c, &target)) return false;
  std::vector<Value> args;
  args.reserve(n.children.size() - 1);
  for (size_t i = 1; i < n.children.size(); ++i) {
    Value v;
    if (!Eval(*n.children[i], c, &v)) {
      if (c.error_is_context) return false;
      return c.Fail("failed to extract input arg: " + c.error);
    }
    args.push_back(std::move(v));
  }
  std::string problem;
  if (!CompleteMethodArguments(n.method, &args, &problem)) return c.Fail(problem);
  MethodError error;
  if (RunMethod(n.method, target, args, out, &error)) return true;
  if (!error.expected.empty()) {
    return c.Fail(TypeErrorFrom(error.expected, target, target_node.annotation));
  }
  return c.Fail(target_node.annotation + ": " + error.message);
}

bool EvalIf(const Node& n, Context& c, Value* out) {
  size_t branches = (n.children.size() - (n.has_else ? 1 : 0)) / 2;
  for (size_t i = 0; i < branches; ++i) {
    const Node& cond = *n.children[2 * i];
    Value v;
    if (!Eval(cond, c, &v)) {
      if (c.error_is_context) return false;
      return c.Fail("failed to check if condition" +
                    (i == 0 ? std::string() : " " + std::to_string(i)) + ": " + c.error);
    }
    bool matched = false;
    if (v.is_value() && v.get().is_boolean()) {
      matched = v.get().get<bool>();
    } else if (!(v.is_value() && v.get().is_null())) {
      // null is an honorary false in Bento until v5; anything else is an error.
      if (!v.is_value()) {
        return c.Fail(cond.annotation + " resolved to a non-boolean value <nil> (value." +
                      (v.kind == Value::Kind::kDeleted ? "Delete" : "Nothing") + ")");
      }
      return c.Fail(cond.annotation + " resolved to a non-boolean value " + GoFormatValue(v.get()) +
                    " (" + std::string(GoTypeName(v.get())) + ")");
    }
    if (matched) return Eval(*n.children[2 * i + 1], c, out);
  }
  if (n.has_else) return Eval(*n.children.back(), c, out);
  *out = Value::Nothing();
  return true;
}

bool EvalBoolean(const Value& v, Context& c, bool* result) {
  std::optional<bool> b = v.is_value() ? GetBool(v.get()) : std::nullopt;
  if (!b) return c.Fail(TypeErrorFrom("bool", v, ""));
  *result = *b;
  return true;
}

bool EvalBinary(const Node& n, Context& c, Value* out) {
  const Node& left_node = *n.children[0];
  const Node& right_node = *n.children[1];
  Value left;
  switch (n.op) {
    case BinaryOp::kCoalesce:
      if (Eval(left_node, c, &left) && left.is_value() && !left.get().is_null()) {
        *out = std::move(left);
        return true;
      }
      c.error.clear();
      c.error_is_context = false;
      return Eval(right_node, c, out);
    case BinaryOp::kAnd:
    case BinaryOp::kOr: {
      bool l = false, r = false;
      if (!Eval(left_node, c, &left) || !EvalBoolean(left, c, &l)) return false;
      if (n.op == BinaryOp::kAnd && !l) {
        *out = Value::Own(false);
        return true;
      }
      if (n.op == BinaryOp::kOr && l) {
        *out = Value::Own(true);
        return true;
      }
      Value right;
      if (!Eval(right_node, c, &right) || !EvalBoolean(right, c, &r)) return false;
      *out = Value::Own(r);
      return true;
    }
    default: {
      Value right;
      if (!Eval(left_node, c, &left) || !Eval(right_node, c, &right)) return false;
      std::string problem;
      if (!ApplyOperator(n.op, left, right, left_node, right_node, out, &problem)) {
        return c.Fail(std::move(problem));
      }
      return true;
    }
  }
}

bool Eval(const Node& n, Context& c, Value* out) {
  switch (n.kind) {
    case Node::Kind::kLiteral:
      if (n.literal_kind == Value::Kind::kDeleted) {
        *out = Value::Deleted();
      } else if (n.literal_kind == Value::Kind::kNothing) {
        *out = Value::Nothing();
      } else {
        *out = Value::Borrow(&n.literal);
      }
      return true;
    case Node::Kind::kThis: {
      if (!EnsureDocument(c)) return FailNoDocument(c, n.path);
      const Json* found = Lookup(&c.document, n.path);
      *out = Value::Borrow(found != nullptr ? found : &kNull);
      return true;
    }
    case Node::Kind::kRoot:
      if (!c.root.is_value()) {
        *out = n.path.empty() ? Value{c.root.kind, nullptr, Json()} : Value::Borrow(&kNull);
        return true;
      }
      *out = Narrow(Value::Borrow(&c.root.get()), n.path);
      return true;
    case Node::Kind::kVariable: {
      const std::optional<Json>& v = c.variables[static_cast<size_t>(n.slot)];
      if (!v) return c.Fail("variable '" + n.name + "' undefined");
      *out = Narrow(Value::Borrow(&*v), n.path);
      return true;
    }
    case Node::Kind::kPath: {
      Value target;
      if (!Eval(*n.children[0], c, &target)) return false;
      *out = Narrow(std::move(target), n.path);
      return true;
    }
    case Node::Kind::kArray: {
      Json array = Json::array();
      for (const NodePtr& item : n.children) {
        Value v;
        if (!Eval(*item, c, &v)) return false;
        if (v.is_value()) array.push_back(v.Take());  // deleted() and nothing drop the item
      }
      *out = Value::Own(std::move(array));
      return true;
    }
    case Node::Kind::kObject: {
      Json object = Json::object();
      for (size_t i = 0; i < n.children.size(); ++i) {
        Value key;
        if (!Eval(*n.keys[i], c, &key)) return false;
        if (!key.is_value() || !(key.get().is_string() || key.get().is_binary())) {
          return c.Fail("object keys must be strings, got " + std::string(TypeName(key)) +
                        " from " + n.keys[i]->annotation);
        }
        Value v;
        if (!Eval(*n.children[i], c, &v)) return false;
        if (!v.is_value()) continue;  // deleted() and nothing drop the key
        object[ToBentoString(key.get())] = v.Take();
      }
      *out = Value::Own(std::move(object));
      return true;
    }
    case Node::Kind::kBinary:
      return EvalBinary(n, c, out);
    case Node::Kind::kNot: {
      Value v;
      if (!Eval(*n.children[0], c, &v)) return false;
      if (!v.is_value() || !v.get().is_boolean()) {
        return c.Fail(TypeErrorFrom("bool", v, n.children[0]->annotation));
      }
      *out = Value::Own(!v.get().get<bool>());
      return true;
    }
    case Node::Kind::kIf:
      return EvalIf(n, c, out);
    case Node::Kind::kFunction:
      return EvalFunction(n, c, out);
    case Node::Kind::kMethod:
      return EvalMethod(n, c, out);
  }
  return c.Fail("unsupported expression");
}

// ---- assignments ----------------------------------------------------------------------------

bool AssignRoot(Context& c, const std::vector<std::string>& path, Value v) {
  // Copy a borrowed value before the root changes: it may be borrowed from the root itself
  // (`root.b = root`), and Bento assigns a clone taken before the assignment.
  if (v.is_value() && v.ref != nullptr) v = Value::Own(*v.ref);
  if (path.empty()) {
    if (v.is_value()) {
      c.root = Value::Own(v.Take());
    } else {
      c.root = v;
    }
    return true;
  }
  if (c.root.kind == Value::Kind::kNothing || (c.root.is_value() && c.root.get().is_null())) {
    c.root = Value::Own(Json::object());
  }
  auto non_object = [&](std::string culprit, std::string_view type) {
    if (culprit.empty()) {
      return c.Fail("unable to set target path " + DotPath(path) +
                    " as the value of the root was a non-object type (" + std::string(type) + ")");
    }
    return c.Fail("unable to set target path " + DotPath(path) + " as the value of " + culprit +
                  " was a non-object type (" + std::string(type) + ")");
  };
  if (v.kind == Value::Kind::kDeleted) {
    if (!c.root.is_value()) return true;
    Json* parent = Lookup(&c.root.own, std::vector<std::string>(path.begin(), path.end() - 1));
    if (parent == nullptr) return true;
    if (parent->is_object()) {
      parent->erase(path.back());
    } else if (parent->is_array()) {
      if (auto index = ArrayIndex(path.back(), parent->size())) {
        parent->erase(*index);
      }
    }
    return true;
  }
  if (!c.root.is_value()) return non_object("", TypeName(c.root));
  if (!c.root.get().is_object() && !c.root.get().is_array()) {
    return non_object("", TypeName(c.root.get()));
  }
  Json* cur = &c.root.own;
  for (size_t i = 0; i < path.size(); ++i) {
    const std::string& segment = path[i];
    bool last = i + 1 == path.size();
    if (cur->is_object()) {
      Json& next = (*cur)[segment];
      if (last) {
        next = v.Take();
        return true;
      }
      if (next.is_null()) next = Json::object();
      cur = &next;
    } else if (cur->is_array()) {
      size_t index = 0;
      bool numeric = !segment.empty() && segment.size() <= 18;
      for (char ch : segment) {
        if (ch < '0' || ch > '9') numeric = false;
      }
      if (numeric) index = std::stoull(segment);
      if (!numeric) {
        return c.Fail("unable to set target path " + DotPath(path) +
                      ": failed to resolve path segment '" + std::to_string(i) +
                      "': found array but segment value '" + segment +
                      "' could not be parsed into array index: strconv.Atoi: parsing " +
                      GoQuote(segment) + ": invalid syntax");
      }
      if (index >= cur->size()) {
        return c.Fail("unable to set target path " + DotPath(path) +
                      ": failed to resolve path segment '" + std::to_string(i) +
                      "': found array but index '" + segment + "' exceeded target array size of '" +
                      std::to_string(cur->size()) + "'");
      }
      Json& next = (*cur)[index];
      if (last) {
        next = v.Take();
        return true;
      }
      cur = &next;
    } else {
      return non_object(DotPath(std::vector<std::string>(path.begin(), path.begin() + i)),
                        TypeName(*cur));
    }
  }
  return true;
}

bool AssignMetadataObject(Context& c, Value v) {
  if (v.kind == Value::Kind::kDeleted) {
    c.Metadata().clear();
    return true;
  }
  if (!v.get().is_object()) {
    return c.Fail("setting root meta object requires object value, received: " +
                  std::string(GoTypeName(v.get())));
  }
  auto& meta = c.Metadata();
  meta.clear();
  for (auto it = v.get().begin(); it != v.get().end(); ++it) {
    meta[it.key()] = ToBentoString(it.value());
  }
  return true;
}

bool Execute(const Statement& st, Context& c) {
  Value v;
  if (st.move_from_this) {
    // `root = this` and friends, with no later use of `this`: move instead of copying.
    if (!EnsureDocument(c)) return FailNoDocument(c, st.expr->path);
    Json* found = Lookup(&c.document, st.expr->path);
    v = found != nullptr ? Value::Own(std::move(*found)) : Value::Borrow(&kNull);
  } else if (!Eval(*st.expr, c, &v)) {
    return false;
  }
  if (v.kind == Value::Kind::kNothing) return true;  // no assignment at all
  switch (st.kind) {
    case Statement::Kind::kRoot:
      return AssignRoot(c, st.path, std::move(v));
    case Statement::Kind::kLet:
      if (v.kind == Value::Kind::kDeleted) {
        c.variables[static_cast<size_t>(st.slot)].reset();
      } else {
        c.variables[static_cast<size_t>(st.slot)] = v.Take();
      }
      return true;
    case Statement::Kind::kMeta:
      if (v.kind == Value::Kind::kDeleted) {
        c.Metadata().erase(st.path[0]);
      } else {
        c.Metadata()[st.path[0]] = ToBentoString(v.get());
      }
      return true;
    case Statement::Kind::kMetaAll:
      return AssignMetadataObject(c, std::move(v));
  }
  return true;
}

// ---- the fast path (FastPlan in ast.h) -------------------------------------------------------

bool ReadsOnlyTheWorld(const Node& n) {
  if (n.kind == Node::Kind::kThis || n.kind == Node::Kind::kRoot ||
      n.kind == Node::Kind::kVariable || n.reads_this) {
    return false;
  }
  for (const NodePtr& child : n.children) {
    if (!ReadsOnlyTheWorld(*child)) return false;
  }
  for (const NodePtr& key : n.keys) {
    if (!ReadsOnlyTheWorld(*key)) return false;
  }
  return true;
}

// The fast path's buffers, one set per thread, reused from message to message.
struct FastScratch {
  JsonObjectRewriter rewriter;
  // The members the fields set, one after the other, in members[0, members_size): the string
  // only grows (writing a member fills nothing first), and has kMemberSlack bytes to spare
  // after the last member, which the rewriter may read.
  std::string members;
  size_t members_size = 0;
  std::string evaluated;  // a kEval field's member
  // For each key: where its member starts and ends in `members`, or kUntouched / kRemoved.
  std::vector<std::pair<int64_t, size_t>> spans;
  std::vector<FieldEdit> edits;
  std::string content;  // ApplyInPlace: the new content, then swapped with the message's
};
constexpr int64_t kUntouched = -1;
constexpr int64_t kRemoved = -2;

FastScratch& TheFastScratch() {
  thread_local FastScratch scratch;
  return scratch;
}

// Room for `n` more bytes at the end of scratch.members.
inline char* MemberRoom(FastScratch& scratch, size_t n) {
  size_t need = scratch.members_size + n + JsonObjectRewriter::kMemberSlack;
  if (scratch.members.size() < need) [[unlikely]] {
    scratch.members.resize(std::max(need, 2 * scratch.members.size()));
  }
  return scratch.members.data() + scratch.members_size;
}

inline void AppendMember(FastScratch& scratch, std::string_view a, std::string_view b) {
  char* at = MemberRoom(scratch, a.size() + b.size());
  std::memcpy(at, a.data(), a.size());
  std::memcpy(at + a.size(), b.data(), b.size());
  scratch.members_size += a.size() + b.size();
}

// Evaluates the fields of `plan` into scratch.members and scratch.spans. `context` is for kEval
// fields (null when there are none). False when one fails.
bool EvaluateFields(const FastPlan& plan, const Environment& env, Context* context,
                    FastScratch& scratch) {
  scratch.members_size = 0;
  scratch.spans.assign(plan.keys.size(), {kUntouched, 0});
  for (const FastField& f : plan.fields) {
    int64_t start = static_cast<int64_t>(scratch.members_size);
    switch (f.kind) {
      case FastField::Kind::kJson:
        AppendMember(scratch, plan.key_members[f.key], f.json);
        break;
      case FastField::Kind::kDelete:
        start = kRemoved;
        break;
      case FastField::Kind::kNow: {
        const std::string& key = plan.key_members[f.key];
        int64_t now = env.NowUnixNanos();
        char* at = MemberRoom(scratch, key.size() + kRfc3339NanoMax + 2);
        char* w = at;
        std::memcpy(w, key.data(), key.size());
        w += key.size();
        *w++ = '"';
        w = WriteRfc3339Nano(now, w);
        *w++ = '"';
        scratch.members_size += static_cast<size_t>(w - at);
        break;
      }
      case FastField::Kind::kEval: {
        Value v;
        if (!Eval(*f.expr, *context, &v)) return false;
        if (v.kind == Value::Kind::kNothing) continue;  // no assignment at all
        if (v.kind == Value::Kind::kDeleted) {
          start = kRemoved;
          break;
        }
        std::string& member = scratch.evaluated;
        member.clear();
        std::string bad;
        if (!AppendJson(v.get(), JsonStyle{}, &member, &bad)) return false;
        AppendMember(scratch, plan.key_members[f.key], member);
        break;
      }
    }
    scratch.spans[f.key] = {start, scratch.members_size};
  }
  return true;
}

// Writes the output of `input` into *content by the fast path. False, having written nothing
// the caller may use and called nothing but the Environment, when the general path must run.
bool RunFast(const FastPlan& plan, const Message& input, const Environment& env,
             FastScratch& scratch, std::string* content) {
  if (input.content.empty() || !scratch.rewriter.Scan(input.content)) return false;
  if (plan.evaluates) {
    Context context(input, env, 0);
    if (!EvaluateFields(plan, env, &context, scratch)) return false;
  } else if (!EvaluateFields(plan, env, nullptr, scratch)) {
    return false;
  }
  std::vector<FieldEdit>& edits = scratch.edits;
  edits.clear();
  const char* members = scratch.members.data();
  for (size_t k = 0; k < plan.keys.size(); ++k) {
    auto [start, end] = scratch.spans[k];
    if (start == kUntouched) continue;
    std::string_view member;
    if (start != kRemoved) {
      member = std::string_view(members + start, end - static_cast<size_t>(start));
    }
    edits.push_back(FieldEdit{plan.keys[k], member});
  }
  // (*content's capacity stays: the engine hands back the previous content's.)
  return scratch.rewriter.Write(edits, content);
}

// RunFast with its exceptions taken as a refusal: the general path then reports them.
bool TryFast(const FastPlan& plan, const Message& input, const Environment& env,
             FastScratch& scratch, std::string* content) {
  try {
    return RunFast(plan, input, env, scratch, content);
  } catch (const std::exception&) {
    return false;
  }
}

// ---- running a program ----------------------------------------------------------------------

// What a run produced besides its outcome.
struct RunOutput {
  std::string* content = nullptr;  // the new content, when content_set
  bool content_set = false;        // else the content is the input's
  std::map<std::string, std::string> metadata;
  bool metadata_set = false;  // else the metadata is the input's
  std::string error;          // kError
  bool fast = false;          // the fast path wrote the content
};

Outcome Run(const Program& program, const Message& input, const Environment& env, bool allow_fast,
            RunOutput* out) {
  if (allow_fast && program.fast) {
    if (TryFast(*program.fast, input, env, TheFastScratch(), out->content)) {
      out->content_set = true;
      out->fast = true;
      return Outcome::kMessage;
    }
  }
  try {
    Context c(input, env, program.variables.size());
    for (const Statement& st : program.statements) {
      if (!Execute(st, c)) {
        out->error = "failed assignment (line " + std::to_string(st.line) + "): " + c.error;
        return Outcome::kError;
      }
    }
    if (c.metadata_copied) {
      out->metadata = std::move(c.metadata);
      out->metadata_set = true;
    }
    switch (c.root.kind) {
      case Value::Kind::kNothing:
        return Outcome::kMessage;
      case Value::Kind::kDeleted:
        return Outcome::kDeleted;
      case Value::Kind::kValue:
        break;
    }
    const Json& root = c.root.get();
    out->content_set = true;
    if (root.is_string()) {
      out->content->assign(root.get_ref<const std::string&>());
    } else if (root.is_binary()) {
      const auto& bytes = root.get_binary();
      out->content->assign(bytes.begin(), bytes.end());
    } else {
      std::string bad;
      out->content->clear();
      out->content->reserve(input.content.size() + 64);
      if (!AppendJson(root, JsonStyle{}, out->content, &bad)) {
        out->error = "json: unsupported value: " + bad;
        return Outcome::kError;
      }
    }
    return Outcome::kMessage;
  } catch (const std::exception& e) {
    // nlohmann throws only on broken invariants here; never let it escape.
    out->error = std::string("internal error: ") + e.what();
    return Outcome::kError;
  }
}

MappingResult ApplyProgram(const Program& program, const Message& input, const Environment& env,
                           bool allow_fast) {
  MappingResult result;
  std::string content;
  RunOutput out;
  out.content = &content;
  result.outcome = Run(program, input, env, allow_fast, &out);
  switch (result.outcome) {
    case Outcome::kError:
      result.message = input;
      result.error = std::move(out.error);
      break;
    case Outcome::kMessage:
      result.message.content = out.content_set ? std::move(content) : input.content;
      [[fallthrough]];
    case Outcome::kDeleted:
      result.message.metadata = out.metadata_set ? std::move(out.metadata) : input.metadata;
      break;
  }
  return result;
}

}  // namespace

void PlanFastPath(Program* program) {
  const std::vector<Statement>& statements = program->statements;
  if (statements.empty()) return;
  const Statement& first = statements[0];
  if (first.kind != Statement::Kind::kRoot || !first.path.empty() ||
      first.expr->kind != Node::Kind::kThis || !first.expr->path.empty()) {
    return;
  }
  auto plan = std::make_unique<FastPlan>();
  for (size_t i = 1; i < statements.size(); ++i) {
    const Statement& st = statements[i];
    if (st.kind != Statement::Kind::kRoot || st.path.size() != 1 || !ReadsOnlyTheWorld(*st.expr)) {
      return;
    }
    plan->keys.push_back(st.path[0]);
  }
  std::sort(plan->keys.begin(), plan->keys.end());
  plan->keys.erase(std::unique(plan->keys.begin(), plan->keys.end()), plan->keys.end());
  for (const std::string& key : plan->keys) {
    std::string member;
    AppendJsonString(key, /*escape_html=*/false, &member);
    member.push_back(':');
    plan->key_members.push_back(std::move(member));
  }
  for (size_t i = 1; i < statements.size(); ++i) {
    const Node& expr = *statements[i].expr;
    FastField f;
    f.key = static_cast<size_t>(
        std::lower_bound(plan->keys.begin(), plan->keys.end(), statements[i].path[0]) -
        plan->keys.begin());
    f.expr = &expr;
    if (expr.kind == Node::Kind::kLiteral && expr.literal_kind == Value::Kind::kValue) {
      f.kind = FastField::Kind::kJson;
      std::string bad;
      if (!AppendJson(expr.literal, JsonStyle{}, &f.json, &bad)) return;
    } else if (expr.kind == Node::Kind::kLiteral && expr.literal_kind == Value::Kind::kDeleted) {
      f.kind = FastField::Kind::kDelete;
    } else if (expr.kind == Node::Kind::kFunction && expr.function == Function::kNow &&
               expr.children.empty()) {
      f.kind = FastField::Kind::kNow;
    } else {
      plan->evaluates = true;
    }
    plan->fields.push_back(std::move(f));
  }
  program->fast = std::move(plan);
}

MappingResult Mapping::Apply(const Message& input, const Environment& env) const {
  return ApplyProgram(*program_, input, env, /*allow_fast=*/true);
}

Outcome Mapping::ApplyInPlace(Message& message, const Environment& env, std::string* error) const {
  // The new content is written into the scratch's, then swapped with the message's: the
  // scratch then holds the old content's buffer, ready for the next message.
  FastScratch& scratch = TheFastScratch();
  if (program_->fast && TryFast(*program_->fast, message, env, scratch, &scratch.content)) {
    message.content.swap(scratch.content);
    return Outcome::kMessage;
  }
  RunOutput out;
  out.content = &scratch.content;
  Outcome outcome = Run(*program_, message, env, /*allow_fast=*/false, &out);
  switch (outcome) {
    case Outcome::kMessage:
      if (out.content_set) message.content.swap(scratch.content);
      if (out.metadata_set) message.metadata = std::move(out.metadata);
      break;
    case Outcome::kError:
      *error = std::move(out.error);
      break;
    case Outcome::kDeleted:
      break;
  }
  return outcome;
}

MappingResult MappingInternals::ApplyGeneral(const Mapping& mapping, const Message& input,
                                             const Environment& env) {
  return ApplyProgram(*mapping.program_, input, env, /*allow_fast=*/false);
}

bool MappingInternals::HasFastPath(const Mapping& mapping) {
  return mapping.program_->fast != nullptr;
}

bool MappingInternals::TakesFastPath(const Mapping& mapping, const Message& input,
                                     const Environment& env) {
  std::string content;
  RunOutput out;
  out.content = &content;
  Run(*mapping.program_, input, env, /*allow_fast=*/true, &out);
  return out.fast;
}

}  // namespace drover::bloblang
