#include "bloblang/lexer.h"

#include "bloblang/value.h"

namespace drover::bloblang {
namespace {

bool IsIdentifierStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentifierChar(char c) { return IsIdentifierStart(c) || IsDigit(c); }

class Lexer {
 public:
  explicit Lexer(std::string_view text) : s_(text) {}

  std::vector<Token> Run() {
    std::vector<Token> tokens;
    while (true) {
      Token t = Next();
      bool stop = t.kind == Token::Kind::kEnd || t.kind == Token::Kind::kError;
      tokens.push_back(std::move(t));
      if (stop) break;
    }
    return tokens;
  }

 private:
  char Peek(size_t ahead = 0) const { return i_ + ahead < s_.size() ? s_[i_ + ahead] : '\0'; }
  bool AtEnd() const { return i_ >= s_.size(); }

  // Moves over one byte, keeping the line and character count (characters are code points).
  void Advance() {
    char c = s_[i_++];
    if (c == '\n') {
      ++line_;
      column_ = 1;
    } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      ++column_;
    }
  }

  Token Make(Token::Kind kind, std::string text, int line, int column) {
    Token t;
    t.kind = kind;
    t.text = std::move(text);
    t.line = line;
    t.column = column;
    return t;
  }

  Token Error(std::string problem) {
    return Make(Token::Kind::kError, std::move(problem), line_, column_);
  }

  Token Next() {
    // Spaces and comments.
    while (!AtEnd()) {
      char c = Peek();
      if (c == ' ' || c == '\t' || c == '\r') {
        Advance();
      } else if (c == '#') {
        while (!AtEnd() && Peek() != '\n') Advance();
      } else {
        break;
      }
    }
    int line = line_, column = column_;
    if (AtEnd()) return Make(Token::Kind::kEnd, "", line, column);
    char c = Peek();
    if (c == '\n') {
      Advance();
      return Make(Token::Kind::kNewline, "\n", line, column);
    }
    if (IsIdentifierStart(c)) {
      size_t start = i_;
      while (!AtEnd() && IsIdentifierChar(Peek())) Advance();
      return Make(Token::Kind::kIdentifier, std::string(s_.substr(start, i_ - start)), line,
                  column);
    }
    if (IsDigit(c)) {
      size_t start = i_;
      while (!AtEnd() && IsDigit(Peek())) Advance();
      Token::Kind kind = Token::Kind::kInteger;
      if (Peek() == '.' && IsDigit(Peek(1))) {
        kind = Token::Kind::kFloat;
        Advance();
        while (!AtEnd() && IsDigit(Peek())) Advance();
      }
      return Make(kind, std::string(s_.substr(start, i_ - start)), line, column);
    }
    if (c == '"') return String(line, column);
    if (c == '$' || c == '@') {
      Advance();
      size_t start = i_;
      while (!AtEnd() && IsIdentifierChar(Peek())) Advance();
      std::string name(s_.substr(start, i_ - start));
      if (c == '$' && name.empty())
        return Make(Token::Kind::kError, "expected variable name", line, column + 1);
      return Make(c == '$' ? Token::Kind::kVariable : Token::Kind::kMetaRef, std::move(name), line,
                  column);
    }
    static constexpr std::string_view kTwoCharacter[] = {"==", "!=", "<=", ">=", "&&", "||"};
    for (std::string_view p : kTwoCharacter) {
      if (s_.substr(i_, 2) == p) {
        Advance();
        Advance();
        return Make(Token::Kind::kPunct, std::string(p), line, column);
      }
    }
    if (std::string_view(".,:()[]{}=<>+-*/%!|").find(c) != std::string_view::npos) {
      Advance();
      return Make(Token::Kind::kPunct, std::string(1, c), line, column);
    }
    unsigned code_point = 0;
    size_t length = DecodeUtf8(s_, i_, &code_point);
    std::string shown = GoQuote(s_.substr(i_, length == 0 ? 1 : length));
    shown.front() = '\'';
    shown.back() = '\'';
    return Error("unexpected character " + shown);
  }

  Token String(int line, int column) {
    // Problems inside a string literal are reported at its opening quote, as Bento does.
    auto fail = [&](std::string problem) {
      return Make(Token::Kind::kError, std::move(problem), line, column);
    };
    if (s_.substr(i_, 3) == "\"\"\"") {
      for (int k = 0; k < 3; ++k) Advance();
      size_t start = i_;
      while (!AtEnd() && s_.substr(i_, 3) != "\"\"\"") Advance();
      if (AtEnd()) return fail("required: expected end triple-quote");
      std::string text(s_.substr(start, i_ - start));
      for (int k = 0; k < 3; ++k) Advance();
      return Make(Token::Kind::kString, std::move(text), line, column);
    }
    Advance();  // the opening quote
    std::string text;
    while (true) {
      if (AtEnd() || Peek() == '\n') return fail("required: expected end quote");
      char c = Peek();
      if (c == '"') {
        Advance();
        return Make(Token::Kind::kString, std::move(text), line, column);
      }
      if (c != '\\') {
        text.push_back(c);
        Advance();
        continue;
      }
      Advance();
      if (AtEnd()) return fail("required: expected end quote");
      char e = Peek();
      Advance();
      switch (e) {
        case 'a':
          text.push_back('\a');
          break;
        case 'b':
          text.push_back('\b');
          break;
        case 'f':
          text.push_back('\f');
          break;
        case 'n':
          text.push_back('\n');
          break;
        case 'r':
          text.push_back('\r');
          break;
        case 't':
          text.push_back('\t');
          break;
        case 'v':
          text.push_back('\v');
          break;
        case '\\':
          text.push_back('\\');
          break;
        case '"':
          text.push_back('"');
          break;
        case 'x':
        case 'u':
        case 'U': {
          int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          unsigned value = 0;
          for (int k = 0; k < digits; ++k) {
            int h = HexDigitValue(Peek());
            if (h < 0) return fail("invalid escape sequence in string literal");
            value = value * 16 + static_cast<unsigned>(h);
            Advance();
          }
          if (e == 'x') {
            text.push_back(static_cast<char>(value));
          } else {
            if (value > 0x10FFFF) return fail("invalid escape sequence in string literal");
            AppendUtf8(value, &text);
          }
          break;
        }
        default:
          if (e >= '0' && e <= '7') {  // \ooo: three octal digits
            unsigned value = static_cast<unsigned>(e - '0');
            for (int k = 0; k < 2; ++k) {
              if (Peek() < '0' || Peek() > '7')
                return fail("invalid escape sequence in string literal");
              value = value * 8 + static_cast<unsigned>(Peek() - '0');
              Advance();
            }
            if (value > 255) return fail("invalid escape sequence in string literal");
            text.push_back(static_cast<char>(value));
            break;
          }
          return fail("invalid escape sequence in string literal");
      }
    }
  }

  std::string_view s_;
  size_t i_ = 0;
  int line_ = 1;
  int column_ = 1;
};

}  // namespace

std::vector<Token> Tokenize(std::string_view text) { return Lexer(text).Run(); }

}  // namespace drover::bloblang
