// Bento's binary arithmetic and comparison operators, shared by the interpreter and by the
// parser (which folds operators between two literals at parse time, as Bento does, so that
// `5 / 0` written literally is a parse error). Pure.
#pragma once

#include <string>

#include "bloblang/ast.h"

namespace drover::bloblang {

// Applies `op` (arithmetic or comparison; not &&, || or |) to two evaluated operands. On failure
// returns false with Bento's message in *error, e.g. "cannot add types number (from number
// literal) and string (from string literal)" or "attempted to divide by zero".
bool ApplyOperator(BinaryOp op, const Value& left, const Value& right, const Node& left_node,
                   const Node& right_node, Value* out, std::string* error);

}  // namespace drover::bloblang
