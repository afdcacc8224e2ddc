// The functions and methods of Drover's Bloblang subset: their names, their parameters (checked
// at parse time, as Bento checks them) and the methods' behaviour on evaluated values. Functions
// that read the message or the world run in the interpreter, which owns that context. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bloblang/ast.h"

namespace drover::bloblang {

std::optional<Function> LookupFunction(std::string_view name);
std::optional<Method> LookupMethod(std::string_view name);

// Checks the arguments of a call as Bento does when it parses one: too many ("wrong number of
// arguments, expected 1, got 2"), missing ("missing parameter: name") or a literal of the wrong
// type ("field name: wrong argument type, expected string, got number"). "" when fine.
std::string CheckFunctionArguments(Function f, const std::vector<NodePtr>& args);
std::string CheckMethodArguments(Method m, const std::vector<NodePtr>& args);

// The evaluated arguments of a call, with defaults filled in for omitted optional parameters
// (an omitted optional parameter without a default is a null Value). On a dynamic argument of
// the wrong type, returns false with Bento's "failed to extract input arg ..." message.
bool CompleteFunctionArguments(Function f, std::vector<Value>* args, std::string* error);
bool CompleteMethodArguments(Method m, std::vector<Value>* args, std::string* error);

// Why a method failed: either a type error (`expected` names the types it takes, e.g.
// "string", and the interpreter words it as Bento's value.TypeError with the target's
// annotation) or another problem in `message` ("value is null").
struct MethodError {
  std::string expected;
  std::string message;
};

// Runs method `m` on `target` with its completed arguments.
bool RunMethod(Method m, Value& target, std::vector<Value>& args, Value* out, MethodError* error);

// RFC 3339 with nanoseconds and trailing zeros trimmed, in UTC, as Go's time.RFC3339Nano:
// "2026-12-04T21:52:48.123456789Z", "2026-12-04T21:52:48.1Z", "2026-12-04T21:52:48Z".
std::string FormatRfc3339Nano(int64_t unix_nanos);
void AppendRfc3339Nano(int64_t unix_nanos, std::string* out);
// Writes it at `out`, which has room for kRfc3339NanoMax bytes; returns the end.
constexpr size_t kRfc3339NanoMax = 32;
char* WriteRfc3339Nano(int64_t unix_nanos, char* out);

}  // namespace drover::bloblang
