// The parsed form of a Bloblang mapping: statements whose right-hand sides are expression trees.
// Built once by the parser (parser.cc), then only read by the interpreter (interpreter.cc), so a
// Program is immutable and may be applied from many threads at once. Paths, variable slots,
// function and method choices are all resolved here, at parse time, never per message.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bloblang/value.h"

namespace drover::bloblang {

enum class BinaryOp {
  kAdd,
  kSubtract,
  kMultiply,
  kDivide,
  kModulo,
  kEqual,
  kNotEqual,
  kGreater,
  kGreaterEqual,
  kLess,
  kLessEqual,
  kAnd,
  kOr,
  kCoalesce,
};

// The functions and methods of Drover's subset (SPEC §10).
enum class Function {
  kNow,
  kTimestampUnix,
  kUuidV4,
  kHostname,
  kEnv,
  kContent,
  kMeta,
  kDeleted,
};

enum class Method {
  kUppercase,
  kLowercase,
  kLength,
  kContains,
  kTrim,
  kReplaceAll,
  kSplit,
  kString,
  kNumber,
  kParseJson,
  kFormatJson,
  kNotNull,
};

struct Node {
  enum class Kind {
    kLiteral,   // `literal` (or the deleted()/nothing markers, see literal_kind)
    kThis,      // the input document, then `path`
    kRoot,      // the output value built so far, then `path`
    kVariable,  // variable `slot` (named `name`), then `path`
    kPath,      // children[0], then `path`
    kArray,     // children
    kObject,    // keys[i] (a string literal or a query) and children[i]
    kBinary,    // children[0] `op` children[1]
    kNot,       // !children[0]
    kIf,        // children: cond, then, [cond, then]..., [else]; has_else
    kFunction,  // `function`(children...)
    kMethod,    // children[0].`method`(children[1...])
  };

  Kind kind = Kind::kLiteral;
  int line = 1;
  int column = 1;
  // How Bento names this expression in error messages: "field `this.a`", "number literal".
  std::string annotation;

  Json literal;
  Value::Kind literal_kind = Value::Kind::kValue;
  std::vector<std::string> path;
  std::string name;
  int slot = -1;
  BinaryOp op = BinaryOp::kAdd;
  Function function = Function::kNow;
  Method method = Method::kUppercase;
  bool has_else = false;
  bool reads_this = false;  // this node or one below it reads the input document
  std::vector<std::unique_ptr<Node>> children;
  std::vector<std::unique_ptr<Node>> keys;
};

using NodePtr = std::unique_ptr<Node>;

struct Statement {
  enum class Kind {
    kRoot,     // root(.path)? = expr
    kLet,      // let name = expr
    kMeta,     // meta name = expr
    kMetaAll,  // meta = expr
  };
  Kind kind = Kind::kRoot;
  int line = 1;
  std::vector<std::string> path;  // kRoot: below root; kMeta: {key}
  int slot = -1;                  // kLet
  NodePtr expr;
  // The expression is a plain `this...` path and no later statement reads the input document,
  // so the value can be moved out of the parsed document instead of copied.
  bool move_from_this = false;
};

// The fast path of a mapping that is `root = this` followed only by `root.KEY = EXPR` statements
// whose EXPR reads neither `this`, nor `root`, nor a variable (now(), literals, hostname(),
// env(), meta(), uuid_v4(), ...): when the message is a JSON object, Apply rewrites its text
// (bloblang/json_rewrite.h) instead of decoding it into a value and encoding that again. The
// bytes are the same; anything the rewriter refuses, and any failing EXPR, takes the general
// path, which then also produces the error.
struct FastField {
  enum class Kind {
    kJson,    // a literal: `json` is how the encoder writes it
    kDelete,  // deleted(): removes the key
    kNow,     // now()
    kEval,    // anything else, evaluated by the interpreter
  };
  Kind kind = Kind::kEval;
  size_t key = 0;  // index into FastPlan::keys
  std::string json;
  const Node* expr = nullptr;
};

struct FastPlan {
  std::vector<std::string> keys;         // the keys assigned, sorted and unique
  std::vector<std::string> key_members;  // for each key, `"key":` as the encoder writes it
  std::vector<FastField> fields;         // in statement order
  bool evaluates = false;                // some field is kEval
};

struct Program {
  std::vector<Statement> statements;
  std::vector<std::string> variables;  // slot -> name
  std::unique_ptr<FastPlan> fast;      // when the mapping has the shape above
};

// Sets program->fast when the program has the shape of FastPlan (interpreter.cc).
void PlanFastPath(Program* program);

// A path as Bento prints it (query.SliceToDotPath): segments joined by dots, with "~" written
// "~0" and "." written "~1" inside a segment.
std::string DotPath(const std::vector<std::string>& path);

}  // namespace drover::bloblang
