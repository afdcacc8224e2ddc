// The Bloblang parser: tokens (lexer.h) to a Program (ast.h), by recursive descent for
// statements and terms and by Bento's own four passes for operator precedence. Everything that
// can be decided without a message is decided here: unknown functions and methods, argument
// counts, literal folding, variable slots and whether `this` can be moved instead of copied.
#include <charconv>
#include <cmath>
#include <map>
#include <optional>

#include "bloblang/ast.h"
#include "bloblang/bloblang.h"
#include "bloblang/builtins.h"
#include "bloblang/lexer.h"
#include "bloblang/operators.h"

namespace drover::bloblang {
namespace {

constexpr int kMaxNesting = 100;

struct ParseError {
  int line = 1;
  int column = 1;
  std::string message;
};

}  // namespace

std::string DotPath(const std::vector<std::string>& path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (i > 0) out += '.';
    for (char c : path[i]) {
      if (c == '~') {
        out += "~0";
      } else if (c == '.') {
        out += "~1";
      } else {
        out += c;
      }
    }
  }
  return out;
}

namespace {

std::string LiteralAnnotation(const Node& n) {
  if (n.literal_kind == Value::Kind::kDeleted) return "delete";
  if (n.literal_kind == Value::Kind::kNothing) return "nothing";
  return std::string(TypeName(n.literal)) + " literal";
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  std::optional<ParseError> error;

  bool ParseProgram(Program* program) {
    program_ = program;
    SkipNewlines();
    if (Peek().kind == Token::Kind::kEnd) {
      return Fail(Peek(), "expected import, map, or assignment");
    }
    while (true) {
      if (!ParseStatement()) return false;
      const Token& t = Peek();
      if (t.kind == Token::Kind::kEnd) break;
      if (t.kind != Token::Kind::kNewline) {
        return Fail(
            t, t.kind == Token::Kind::kError ? t.text : "expected end of statement (a newline)");
      }
      SkipNewlines();
      if (Peek().kind == Token::Kind::kEnd) break;
    }
    // A plain `this...` right-hand side can move its value out of the parsed document when no
    // later statement reads the document again.
    bool later_reads_this = false;
    for (auto it = program->statements.rbegin(); it != program->statements.rend(); ++it) {
      it->move_from_this = it->expr->kind == Node::Kind::kThis && !later_reads_this;
      later_reads_this = later_reads_this || it->expr->reads_this;
    }
    return true;
  }

 private:
  // ---- tokens -------------------------------------------------------------------------------

  // The token `ahead` places on; inside brackets newlines are only spacing and are skipped.
  const Token& Peek(size_t ahead = 0) const {
    const size_t last = tokens_.size() - 1;
    size_t i = pos_;
    auto skip_newlines = [&] {
      while (bracket_depth_ > 0 && i < last && tokens_[i].kind == Token::Kind::kNewline) ++i;
    };
    skip_newlines();
    for (; ahead > 0 && i < last; --ahead) {
      ++i;
      skip_newlines();
    }
    return tokens_[i];
  }
  const Token& Take() {
    while (bracket_depth_ > 0 && pos_ < tokens_.size() - 1 &&
           tokens_[pos_].kind == Token::Kind::kNewline) {
      ++pos_;
    }
    const Token& t = tokens_[pos_];
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  void SkipNewlines() {
    while (tokens_[pos_].kind == Token::Kind::kNewline) ++pos_;
  }

  bool Fail(const Token& at, std::string message) {
    if (!error) {
      // A lexer problem is reported where it happened, whatever the parser expected there.
      if (at.kind == Token::Kind::kError) message = at.text;
      error = ParseError{at.line, at.column, std::move(message)};
    }
    return false;
  }
  bool Expect(std::string_view punct, std::string_view what) {
    if (!Peek().Is(punct)) return Fail(Peek(), "expected " + std::string(what));
    Take();
    return true;
  }

  // ---- statements ---------------------------------------------------------------------------

  int SlotFor(const std::string& name) {
    for (size_t i = 0; i < program_->variables.size(); ++i) {
      if (program_->variables[i] == name) return static_cast<int>(i);
    }
    program_->variables.push_back(name);
    return static_cast<int>(program_->variables.size() - 1);
  }

  bool ParseStatement() {
    const Token& first = Peek();
    Statement st;
    st.line = first.line;
    if (first.kind != Token::Kind::kIdentifier) {
      if (first.kind == Token::Kind::kMetaRef) {
        return Fail(first, "metadata assignments with @ are not supported by Drover, use meta " +
                               first.text + " = ...");
      }
      return Fail(first, "expected import, map, or assignment");
    }
    if (first.text == "let") {
      Take();
      const Token& name = Peek();
      if (name.kind != Token::Kind::kIdentifier && name.kind != Token::Kind::kString) {
        return Fail(name, "expected variable name");
      }
      Take();
      st.kind = Statement::Kind::kLet;
      st.slot = SlotFor(name.text);
    } else if (first.text == "meta") {
      Take();
      const Token& name = Peek();
      if (name.kind == Token::Kind::kIdentifier || name.kind == Token::Kind::kString) {
        Take();
        st.kind = Statement::Kind::kMeta;
        st.path.push_back(name.text);
      } else {
        st.kind = Statement::Kind::kMetaAll;
      }
    } else if (first.text == "root") {
      Take();
      st.kind = Statement::Kind::kRoot;
      if (!ParsePathSegments(&st.path)) return false;
    } else if (first.text == "import" || first.text == "map" || first.text == "from" ||
               first.text == "from_all") {
      return Fail(first, "'" + first.text + "' is not supported by Drover's Bloblang subset");
    } else if (first.text == "if") {
      return Fail(first,
                  "if statements are not supported by Drover's Bloblang subset, use an if "
                  "expression: root.x = if c { a } else { b }");
    } else if (first.text == "this") {
      return Fail(first, "expected import, map, or assignment");
    } else {
      // A bare path is shorthand for a path below root: `foo.bar = x` is `root.foo.bar = x`.
      Take();
      st.kind = Statement::Kind::kRoot;
      st.path.push_back(first.text);
      if (!ParsePathSegments(&st.path)) return false;
    }
    if (!Peek().Is("=")) return Fail(Peek(), "expected =");
    Take();
    if (Peek().kind == Token::Kind::kNewline || Peek().kind == Token::Kind::kEnd) {
      return Fail(Peek(), "expected query");
    }
    st.expr = ParseQuery();
    if (!st.expr) return false;
    program_->statements.push_back(std::move(st));
    return true;
  }

  // `.a.b."c d".0` after root (or a path expression); stops before anything else.
  bool ParsePathSegments(std::vector<std::string>* path) {
    while (Peek().Is(".")) {
      const Token& seg = Peek(1);
      if (seg.kind == Token::Kind::kIdentifier && Peek(2).Is("(")) return true;  // a method
      if (seg.kind != Token::Kind::kIdentifier && seg.kind != Token::Kind::kInteger &&
          seg.kind != Token::Kind::kString && seg.kind != Token::Kind::kFloat) {
        return true;
      }
      Take();
      const Token& s = Take();
      if (s.kind == Token::Kind::kFloat) {  // `this.a.0.1` lexes `0.1` as a number
        size_t dot = s.text.find('.');
        path->push_back(s.text.substr(0, dot));
        path->push_back(s.text.substr(dot + 1));
      } else {
        path->push_back(s.text);
      }
    }
    return true;
  }

  // ---- expressions --------------------------------------------------------------------------

  NodePtr NewNode(Node::Kind kind, const Token& at) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->line = at.line;
    n->column = at.column;
    return n;
  }

  static bool IsValueLiteral(const Node& n) { return n.kind == Node::Kind::kLiteral; }

  std::optional<BinaryOp> PeekOperator() {
    const Token& t = Peek();
    if (t.kind != Token::Kind::kPunct) return std::nullopt;
    static const std::map<std::string, BinaryOp, std::less<>> kOps = {
        {"+", BinaryOp::kAdd},       {"-", BinaryOp::kSubtract},   {"*", BinaryOp::kMultiply},
        {"/", BinaryOp::kDivide},    {"%", BinaryOp::kModulo},     {"==", BinaryOp::kEqual},
        {"!=", BinaryOp::kNotEqual}, {">", BinaryOp::kGreater},    {">=", BinaryOp::kGreaterEqual},
        {"<", BinaryOp::kLess},      {"<=", BinaryOp::kLessEqual}, {"&&", BinaryOp::kAnd},
        {"||", BinaryOp::kOr},       {"|", BinaryOp::kCoalesce},
    };
    auto it = kOps.find(t.text);
    if (it == kOps.end()) return std::nullopt;
    return it->second;
  }

  // A query: terms joined by operators, resolved with Bento's precedence passes.
  NodePtr ParseQuery() {
    if (++depth_ > kMaxNesting) {
      Fail(Peek(),
           "expression nested too deeply (more than " + std::to_string(kMaxNesting) + " levels)");
      return nullptr;
    }
    const Token start = Peek();
    std::vector<NodePtr> terms;
    std::vector<BinaryOp> ops;
    NodePtr term = ParseTerm();
    if (!term) return nullptr;
    terms.push_back(std::move(term));
    while (auto op = PeekOperator()) {
      Take();
      // An operator may end a line; the next term continues the expression.
      while (Peek().kind == Token::Kind::kNewline) Take();
      if (Peek().kind == Token::Kind::kEnd) {
        Fail(Peek(), "expected query");
        return nullptr;
      }
      NodePtr next = ParseTerm();
      if (!next) return nullptr;
      ops.push_back(*op);
      terms.push_back(std::move(next));
    }
    --depth_;
    return Resolve(std::move(terms), std::move(ops), start);
  }

  NodePtr Combine(BinaryOp op, NodePtr left, NodePtr right, const Token& start) {
    bool foldable = op != BinaryOp::kAnd && op != BinaryOp::kOr && op != BinaryOp::kCoalesce;
    if (foldable && IsValueLiteral(*left) && IsValueLiteral(*right)) {
      Value l = LiteralValue(*left), r = LiteralValue(*right), out;
      std::string problem;
      if (!ApplyOperator(op, l, r, *left, *right, &out, &problem)) {
        Fail(start, problem);
        return nullptr;
      }
      auto n = NewNode(Node::Kind::kLiteral, start);
      n->literal_kind = out.kind;
      n->literal = out.Take();
      n->annotation = right->annotation;
      return n;
    }
    auto n = NewNode(Node::Kind::kBinary, start);
    n->line = left->line;
    n->column = left->column;
    n->op = op;
    n->annotation = right->annotation;
    n->reads_this = left->reads_this || right->reads_this;
    n->children.push_back(std::move(left));
    n->children.push_back(std::move(right));
    return n;
  }

  static Value LiteralValue(const Node& n) {
    if (n.literal_kind == Value::Kind::kDeleted) return Value::Deleted();
    if (n.literal_kind == Value::Kind::kNothing) return Value::Nothing();
    return Value::Borrow(&n.literal);
  }

  // Bento's NewArithmeticExpression: `* / % |` first, then `+ -`, then comparisons, then `&&`
  // and `||` at equal precedence; each pass left to right.
  NodePtr Resolve(std::vector<NodePtr> terms, std::vector<BinaryOp> ops, const Token& start) {
    auto pass = [&](auto belongs) -> bool {
      std::vector<NodePtr> new_terms;
      std::vector<BinaryOp> new_ops;
      new_terms.push_back(std::move(terms[0]));
      for (size_t i = 0; i < ops.size(); ++i) {
        if (belongs(ops[i])) {
          NodePtr combined =
              Combine(ops[i], std::move(new_terms.back()), std::move(terms[i + 1]), start);
          if (!combined) return false;
          new_terms.back() = std::move(combined);
        } else {
          new_terms.push_back(std::move(terms[i + 1]));
          new_ops.push_back(ops[i]);
        }
      }
      terms = std::move(new_terms);
      ops = std::move(new_ops);
      return true;
    };
    if (!pass([](BinaryOp op) {
          return op == BinaryOp::kMultiply || op == BinaryOp::kDivide || op == BinaryOp::kModulo ||
                 op == BinaryOp::kCoalesce;
        })) {
      return nullptr;
    }
    if (!pass([](BinaryOp op) { return op == BinaryOp::kAdd || op == BinaryOp::kSubtract; })) {
      return nullptr;
    }
    if (!pass([](BinaryOp op) {
          return op == BinaryOp::kEqual || op == BinaryOp::kNotEqual || op == BinaryOp::kGreater ||
                 op == BinaryOp::kGreaterEqual || op == BinaryOp::kLess ||
                 op == BinaryOp::kLessEqual;
        })) {
      return nullptr;
    }
    if (!pass([](BinaryOp op) { return op == BinaryOp::kAnd || op == BinaryOp::kOr; })) {
      return nullptr;
    }
    return std::move(terms[0]);
  }

  // A term: a primary with its methods and paths, or `!` / `-` before a term. Each query and
  // each prefix operator is one level of nesting.
  NodePtr ParseTerm() {
    const Token& t = Peek();
    bool prefix = t.Is("!") || t.Is("-");
    if (prefix && ++depth_ > kMaxNesting) {
      Fail(t,
           "expression nested too deeply (more than " + std::to_string(kMaxNesting) + " levels)");
      return nullptr;
    }
    NodePtr result;
    if (t.Is("!")) {
      Token bang = Take();
      NodePtr operand = ParseTerm();
      if (!operand) return nullptr;
      result = NewNode(Node::Kind::kNot, bang);
      result->annotation = "not " + operand->annotation;
      result->reads_this = operand->reads_this;
      result->children.push_back(std::move(operand));
    } else if (t.Is("-")) {
      Token minus = Take();
      const Token& next = Peek();
      if ((next.kind == Token::Kind::kInteger || next.kind == Token::Kind::kFloat) &&
          next.line == minus.line && next.column == minus.column + 1) {
        // A negative number literal, e.g. -5 (with any methods after it).
        Token number = Take();
        number.text = "-" + number.text;
        number.line = minus.line;
        number.column = minus.column;
        result = NumberLiteral(number);
        if (!result) return nullptr;
        result = ParseTails(std::move(result));
      } else {
        NodePtr operand = ParseTerm();
        if (!operand) return nullptr;
        auto zero = NewNode(Node::Kind::kLiteral, minus);
        zero->literal = int64_t{0};
        zero->annotation = "number literal";
        result = Combine(BinaryOp::kSubtract, std::move(zero), std::move(operand), minus);
      }
    } else {
      result = ParsePrimary();
      if (result) result = ParseTails(std::move(result));
    }
    if (prefix) --depth_;
    return result;
  }

  NodePtr NumberLiteral(const Token& t) {
    auto n = NewNode(Node::Kind::kLiteral, t);
    n->annotation = "number literal";
    const char* begin = t.text.data();
    const char* end = begin + t.text.size();
    if (t.kind == Token::Kind::kInteger) {
      int64_t v = 0;
      auto r = std::from_chars(begin, end, v);
      if (r.ec == std::errc() && r.ptr == end) {
        n->literal = v;
        return n;
      }
    }
    double d = 0;
    auto r = std::from_chars(begin, end, d);
    if (r.ptr != end || !std::isfinite(d)) {
      Fail(t, "invalid number literal " + t.text);
      return nullptr;
    }
    n->literal = d;
    return n;
  }

  NodePtr ParsePrimary() {
    const Token& t = Peek();
    switch (t.kind) {
      case Token::Kind::kInteger:
      case Token::Kind::kFloat:
        return NumberLiteral(Take());
      case Token::Kind::kString: {
        const Token& s = Take();
        auto n = NewNode(Node::Kind::kLiteral, s);
        n->literal = s.text;
        n->annotation = "string literal";
        return n;
      }
      case Token::Kind::kVariable: {
        const Token& v = Take();
        auto n = NewNode(Node::Kind::kVariable, v);
        n->name = v.text;
        n->slot = SlotFor(v.text);
        if (!ParsePathSegments(&n->path)) return nullptr;
        n->annotation = "variable " + v.text;
        return n;
      }
      case Token::Kind::kMetaRef:
        Fail(t, "metadata references with @ are not supported by Drover, use meta(\"" + t.text +
                    "\")");
        return nullptr;
      case Token::Kind::kPunct:
        if (t.Is("(")) return ParseParenthesised();
        if (t.Is("[")) return ParseArray();
        if (t.Is("{")) return ParseObject();
        break;
      case Token::Kind::kIdentifier:
        return ParseWord();
      default:
        break;
    }
    Fail(t, "expected query");
    return nullptr;
  }

  NodePtr ParseParenthesised() {
    Take();
    ++bracket_depth_;
    NodePtr inner = ParseQuery();
    if (!inner) return nullptr;
    if (!Peek().Is(")")) {
      Fail(Peek(), "expected )");
      return nullptr;
    }
    Take();  // the closing bracket, found while newlines were spacing
    --bracket_depth_;
    return inner;
  }

  NodePtr ParseArray() {
    const Token open = Take();
    ++bracket_depth_;
    auto n = NewNode(Node::Kind::kArray, open);
    n->annotation = "array literal";
    while (!Peek().Is("]")) {
      NodePtr item = ParseQuery();
      if (!item) return nullptr;
      n->reads_this = n->reads_this || item->reads_this;
      n->children.push_back(std::move(item));
      if (Peek().Is(",")) {
        Take();
      } else if (!Peek().Is("]")) {
        Fail(Peek(), "expected , or ]");
        return nullptr;
      }
    }
    Take();  // the closing bracket, found while newlines were spacing
    --bracket_depth_;
    return FoldContainer(std::move(n));
  }

  NodePtr ParseObject() {
    const Token open = Take();
    ++bracket_depth_;
    auto n = NewNode(Node::Kind::kObject, open);
    n->annotation = "object literal";
    while (!Peek().Is("}")) {
      NodePtr key = ParseQuery();
      if (!key) return nullptr;
      if (key->kind == Node::Kind::kLiteral &&
          !(key->literal_kind == Value::Kind::kValue && key->literal.is_string())) {
        Fail(Peek(), "object keys must be strings, got " + key->annotation);
        return nullptr;
      }
      if (!Peek().Is(":")) {
        Fail(Peek(), "expected :");
        return nullptr;
      }
      Take();
      NodePtr value = ParseQuery();
      if (!value) return nullptr;
      n->reads_this = n->reads_this || key->reads_this || value->reads_this;
      n->keys.push_back(std::move(key));
      n->children.push_back(std::move(value));
      if (Peek().Is(",")) {
        Take();
      } else if (!Peek().Is("}")) {
        Fail(Peek(), "expected , or }");
        return nullptr;
      }
    }
    Take();  // the closing bracket, found while newlines were spacing
    --bracket_depth_;
    return FoldContainer(std::move(n));
  }

  // An array or object of plain literals is itself a literal.
  NodePtr FoldContainer(NodePtr n) {
    for (const NodePtr& c : n->children) {
      if (c->kind != Node::Kind::kLiteral || c->literal_kind != Value::Kind::kValue) return n;
    }
    for (const NodePtr& k : n->keys) {
      if (k->kind != Node::Kind::kLiteral) return n;
    }
    auto lit = NewNode(Node::Kind::kLiteral, Token{});
    lit->line = n->line;
    lit->column = n->column;
    if (n->kind == Node::Kind::kArray) {
      lit->literal = Json::array();
      for (NodePtr& c : n->children) lit->literal.push_back(std::move(c->literal));
    } else {
      lit->literal = Json::object();
      for (size_t i = 0; i < n->keys.size(); ++i) {
        lit->literal[n->keys[i]->literal.get<std::string>()] = std::move(n->children[i]->literal);
      }
    }
    lit->annotation = LiteralAnnotation(*lit);
    return lit;
  }

  NodePtr ParseWord() {
    const Token word = Take();
    const std::string& w = word.text;
    if (w == "true" || w == "false" || w == "null") {
      auto n = NewNode(Node::Kind::kLiteral, word);
      if (w == "null") {
        n->literal = nullptr;
      } else {
        n->literal = (w == "true");
      }
      n->annotation = LiteralAnnotation(*n);
      return n;
    }
    if (w == "if") return ParseIf(word);
    if (w == "match") {
      Fail(word, "match expressions are not supported by Drover's Bloblang subset");
      return nullptr;
    }
    if (w == "this" || w == "root") {
      auto n = NewNode(w == "this" ? Node::Kind::kThis : Node::Kind::kRoot, word);
      if (!ParsePathSegments(&n->path)) return nullptr;
      n->annotation = "field `" + w + (n->path.empty() ? "" : "." + DotPath(n->path)) + "`";
      n->reads_this = w == "this";
      return n;
    }
    if (Peek().Is("(")) return ParseFunction(word);
    // A bare name is a field of `this`.
    auto n = NewNode(Node::Kind::kThis, word);
    n->path.push_back(w);
    if (!ParsePathSegments(&n->path)) return nullptr;
    n->annotation = "field `this." + DotPath(n->path) + "`";
    n->reads_this = true;
    return n;
  }

  bool ParseArguments(std::vector<NodePtr>* args) {
    Take();  // (
    ++bracket_depth_;
    while (!Peek().Is(")")) {
      if (Peek().kind == Token::Kind::kIdentifier && Peek(1).Is(":")) {
        return Fail(Peek(), "named arguments are not supported by Drover's Bloblang subset");
      }
      NodePtr arg = ParseQuery();
      if (!arg) return false;
      args->push_back(std::move(arg));
      if (Peek().Is(",")) {
        Take();
      } else if (!Peek().Is(")")) {
        return Fail(Peek(), "expected , or )");
      }
    }
    Take();  // the closing bracket, found while newlines were spacing
    --bracket_depth_;
    return true;
  }

  NodePtr ParseFunction(const Token& name) {
    std::optional<Function> fn = LookupFunction(name.text);
    if (!fn) {
      Fail(name, "unrecognised function '" + name.text + "'");
      return nullptr;
    }
    auto n = NewNode(Node::Kind::kFunction, name);
    n->function = *fn;
    n->name = name.text;
    if (!ParseArguments(&n->children)) return nullptr;
    std::string problem = CheckFunctionArguments(*fn, n->children);
    if (!problem.empty()) {
      Fail(name, problem);
      return nullptr;
    }
    for (const NodePtr& a : n->children) n->reads_this = n->reads_this || a->reads_this;
    if (*fn == Function::kDeleted) {
      n->kind = Node::Kind::kLiteral;
      n->literal_kind = Value::Kind::kDeleted;
      n->annotation = "delete";
      return n;
    }
    n->annotation = "function " + name.text;
    return n;
  }

  NodePtr ParseTails(NodePtr target) {
    while (Peek().Is(".")) {
      const Token& next = Peek(1);
      if (next.kind == Token::Kind::kIdentifier && Peek(2).Is("(")) {
        Take();
        const Token name = Take();
        std::optional<Method> m = LookupMethod(name.text);
        if (!m) {
          Fail(name, "unrecognised method '" + name.text + "'");
          return nullptr;
        }
        auto n = NewNode(Node::Kind::kMethod, name);
        n->method = *m;
        n->name = name.text;
        n->annotation = "method " + name.text;
        n->reads_this = target->reads_this;
        n->children.push_back(std::move(target));
        std::vector<NodePtr> args;
        if (!ParseArguments(&args)) return nullptr;
        std::string problem = CheckMethodArguments(*m, args);
        if (!problem.empty()) {
          Fail(name, problem);
          return nullptr;
        }
        for (NodePtr& a : args) {
          n->reads_this = n->reads_this || a->reads_this;
          n->children.push_back(std::move(a));
        }
        target = std::move(n);
        continue;
      }
      if (next.kind == Token::Kind::kIdentifier || next.kind == Token::Kind::kInteger ||
          next.kind == Token::Kind::kString || next.kind == Token::Kind::kFloat) {
        std::vector<std::string> path;
        if (!ParsePathSegments(&path)) return nullptr;
        if (target->kind == Node::Kind::kThis || target->kind == Node::Kind::kRoot ||
            target->kind == Node::Kind::kVariable || target->kind == Node::Kind::kPath) {
          target->path.insert(target->path.end(), path.begin(), path.end());
          if (target->kind == Node::Kind::kThis)
            target->annotation = "field `this." + DotPath(target->path) + "`";
          if (target->kind == Node::Kind::kRoot)
            target->annotation = "field `root." + DotPath(target->path) + "`";
        } else {
          auto n = NewNode(Node::Kind::kPath, Token{});
          n->line = target->line;
          n->column = target->column;
          n->reads_this = target->reads_this;
          n->annotation = target->annotation;
          n->children.push_back(std::move(target));
          n->path = std::move(path);
          target = std::move(n);
        }
        continue;
      }
      Take();
      if (Peek().Is("(")) {
        Fail(Peek(), "context captures .( ) are not supported by Drover's Bloblang subset");
      } else {
        Fail(Peek(), "expected method or field path");
      }
      return nullptr;
    }
    return target;
  }

  NodePtr ParseIf(const Token& keyword) {
    auto n = NewNode(Node::Kind::kIf, keyword);
    n->annotation = "if expression";
    while (true) {
      NodePtr cond = ParseQuery();
      if (!cond) return nullptr;
      NodePtr body = ParseBlock();
      if (!body) return nullptr;
      n->reads_this = n->reads_this || cond->reads_this || body->reads_this;
      n->children.push_back(std::move(cond));
      n->children.push_back(std::move(body));
      if (!Peek().IsWord("else")) break;
      Take();
      if (Peek().IsWord("if")) {
        Take();
        continue;
      }
      NodePtr otherwise = ParseBlock();
      if (!otherwise) return nullptr;
      n->reads_this = n->reads_this || otherwise->reads_this;
      n->children.push_back(std::move(otherwise));
      n->has_else = true;
      break;
    }
    return n;
  }

  NodePtr ParseBlock() {
    if (!Peek().Is("{")) {
      Fail(Peek(), "expected {");
      return nullptr;
    }
    Take();
    ++bracket_depth_;
    if (Peek().Is("}")) {
      Fail(Peek(), "expected query");
      return nullptr;
    }
    NodePtr body = ParseQuery();
    if (!body) return nullptr;
    if (!Peek().Is("}")) {
      Fail(Peek(), "expected }");
      return nullptr;
    }
    Take();  // the closing bracket, found while newlines were spacing
    --bracket_depth_;
    return body;
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int bracket_depth_ = 0;
  int depth_ = 0;
  Program* program_ = nullptr;
};

}  // namespace

Result<Mapping> Mapping::Parse(std::string_view text) {
  try {
    Parser parser(Tokenize(text));
    auto program = std::make_shared<Program>();
    if (!parser.ParseProgram(program.get())) {
      const ParseError& e = *parser.error;
      return InvalidError("line " + std::to_string(e.line) + " char " + std::to_string(e.column) +
                          ": " + e.message);
    }
    PlanFastPath(program.get());
    return Mapping(std::move(program));
  } catch (const std::exception& e) {
    return InvalidError(std::string("line 1 char 1: ") + e.what());
  }
}

}  // namespace drover::bloblang
