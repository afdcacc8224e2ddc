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

struct Program {
  std::vector<Statement> statements;
  std::vector<std::string> variables;  // slot -> name
};

// A path as Bento prints it (query.SliceToDotPath): segments joined by dots, with "~" written
// "~0" and "." written "~1" inside a segment.
std::string DotPath(const std::vector<std::string>& path);

}  // namespace drover::bloblang
