// The Bloblang lexer: mapping text to tokens with 1-based line and character positions (a
// character is a UTF-8 code point, as Bento counts them). Comments (`#` to the end of the line)
// and spaces are dropped; newlines are tokens, since they separate statements. Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace drover::bloblang {

struct Token {
  enum class Kind {
    kEnd,
    kNewline,
    kIdentifier,  // root, this, let, if, foo, snake_case_9
    kInteger,     // 42
    kFloat,       // 4.2
    kString,      // "a\n" or """raw""" (text holds the decoded value)
    kVariable,    // $name (text holds the name)
    kMetaRef,     // @name (not in Drover's subset; the parser names it)
    kPunct,       // . , : ( ) [ ] { } = == != < <= > >= + - * / % ! && || |
    kError,       // text holds the problem, e.g. "expected end quote"
  };
  Kind kind = Kind::kEnd;
  std::string text;
  int line = 1;
  int column = 1;

  bool Is(std::string_view punct) const { return kind == Kind::kPunct && text == punct; }
  bool IsWord(std::string_view word) const { return kind == Kind::kIdentifier && text == word; }
};

// All tokens of `text`, ending with kEnd (or stopping at the first kError).
std::vector<Token> Tokenize(std::string_view text);

}  // namespace drover::bloblang
