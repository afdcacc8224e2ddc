#include "bloblang/operators.h"

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace drover::bloblang {
namespace {

std::string_view OperationName(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
      return "add";
    case BinaryOp::kSubtract:
      return "subtract";
    case BinaryOp::kDivide:
      return "divide";
    case BinaryOp::kMultiply:
      return "multiply";
    case BinaryOp::kModulo:
      return "modulo";
    case BinaryOp::kAnd:
      return "boolean and";
    case BinaryOp::kOr:
      return "boolean or";
    case BinaryOp::kCoalesce:
      return "coalesce";
    default:
      return "compare";
  }
}

bool Mismatch(BinaryOp op, const Value& l, const Value& r, const Node& ln, const Node& rn,
              std::string* error) {
  *error = "cannot " + std::string(OperationName(op)) + " types " + std::string(TypeName(l)) +
           " (from " + ln.annotation + ") and " + std::string(TypeName(r)) + " (from " +
           rn.annotation + ")";
  return false;
}

bool IsNumber(const Value& v) { return v.is_value() && v.get().is_number(); }

// Bento holds message numbers as json.Number and reads them as int64 when they fit, float64
// otherwise; an unsigned value beyond int64 therefore counts as a float.
bool ActsAsFloat(const Value& v) {
  const Json& j = v.get();
  return j.is_number_float() ||
         (j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX));
}

std::optional<std::string_view> StringOf(const Value& v) {
  if (!v.is_value()) return std::nullopt;
  const Json& j = v.get();
  if (j.is_string()) return std::string_view(j.get_ref<const std::string&>());
  if (j.is_binary()) {
    const auto& b = j.get_binary();
    return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
  }
  return std::nullopt;
}

// + - * on two numbers of one representation. Integer arithmetic wraps around on overflow, as
// Go's does (done in uint64, where wrapping is defined).
template <typename T>
Json Arithmetic(BinaryOp op, T a, T b) {
  using Wide = std::conditional_t<std::is_integral_v<T>, uint64_t, T>;
  Wide x = static_cast<Wide>(a), y = static_cast<Wide>(b);
  Wide r = op == BinaryOp::kAdd ? x + y : op == BinaryOp::kSubtract ? x - y : x * y;
  return static_cast<T>(r);
}

template <typename T>
bool CompareWith(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::kEqual:
      return a == b;
    case BinaryOp::kNotEqual:
      return a != b;
    case BinaryOp::kGreater:
      return a > b;
    case BinaryOp::kGreaterEqual:
      return a >= b;
    case BinaryOp::kLess:
      return a < b;
    case BinaryOp::kLessEqual:
      return a <= b;
    default:
      return false;
  }
}

// Bento's numberDegradationFunc: float if either side is a float, int64 otherwise. `int_fn` and
// `float_fn` compute the result.
template <typename IntFn, typename FloatFn>
bool Degrade(BinaryOp op, const Value& l, const Value& r, const Node& ln, const Node& rn,
             Value* out, std::string* error, IntFn int_fn, FloatFn float_fn) {
  if (!IsNumber(l) || !IsNumber(r)) return Mismatch(op, l, r, ln, rn, error);
  if (ActsAsFloat(l) || ActsAsFloat(r)) {
    *out = Value::Own(float_fn(*GetNumber(l.get()), *GetNumber(r.get())));
  } else {
    *out = Value::Own(int_fn(*GetInt(l.get()), *GetInt(r.get())));
  }
  return true;
}

bool Generic(BinaryOp op, const Value& l, const Value& r, Value* out) {
  bool equal = l.is_value() && r.is_value() && ValuesEqual(l.get(), r.get());
  *out = Value::Own(op == BinaryOp::kEqual ? equal : !equal);
  return true;
}

bool Compare(BinaryOp op, const Value& l, const Value& r, const Node& ln, const Node& rn,
             Value* out, std::string* error) {
  bool equality = op == BinaryOp::kEqual || op == BinaryOp::kNotEqual;
  if (auto ls = StringOf(l)) {
    auto rs = StringOf(r);
    if (!rs) return equality ? Generic(op, l, r, out) : Mismatch(op, l, r, ln, rn, error);
    *out = Value::Own(CompareWith(op, *ls, *rs));
    return true;
  }
  if (IsNumber(l)) {
    if (!IsNumber(r)) return equality ? Generic(op, l, r, out) : Mismatch(op, l, r, ln, rn, error);
    return Degrade(
        op, l, r, ln, rn, out, error,
        [op](int64_t a, int64_t b) { return Json(CompareWith(op, a, b)); },
        [op](double a, double b) { return Json(CompareWith(op, a, b)); });
  }
  if (l.is_value() && l.get().is_boolean()) {
    if (!equality) return Mismatch(op, l, r, ln, rn, error);
    std::optional<bool> rb = r.is_value() ? GetBool(r.get()) : std::nullopt;
    if (!rb) return Generic(op, l, r, out);
    *out = Value::Own(CompareWith(op, l.get().get<bool>(), *rb));
    return true;
  }
  if (!equality) return Mismatch(op, l, r, ln, rn, error);
  return Generic(op, l, r, out);
}

}  // namespace

bool ApplyOperator(BinaryOp op, const Value& l, const Value& r, const Node& ln, const Node& rn,
                   Value* out, std::string* error) {
  switch (op) {
    case BinaryOp::kAdd:
      if (auto ls = StringOf(l)) {
        auto rs = StringOf(r);
        if (!rs) return Mismatch(op, l, r, ln, rn, error);
        std::string joined;
        joined.reserve(ls->size() + rs->size());
        joined.append(*ls).append(*rs);
        *out = Value::Own(std::move(joined));
        return true;
      }
      [[fallthrough]];
    case BinaryOp::kSubtract:
    case BinaryOp::kMultiply:
      return Degrade(
          op, l, r, ln, rn, out, error, [op](int64_t a, int64_t b) { return Arithmetic(op, a, b); },
          [op](double a, double b) { return Arithmetic(op, a, b); });
    case BinaryOp::kDivide: {
      if (!IsNumber(l) || !IsNumber(r)) return Mismatch(op, l, r, ln, rn, error);
      double b = *GetNumber(r.get());
      if (b == 0) {
        *error = rn.annotation + ": attempted to divide by zero";
        return false;
      }
      *out = Value::Own(*GetNumber(l.get()) / b);
      return true;
    }
    case BinaryOp::kModulo: {
      if (!IsNumber(l) || !IsNumber(r)) return Mismatch(op, l, r, ln, rn, error);
      int64_t a = *GetInt(l.get());
      int64_t b = *GetInt(r.get());
      if (b == 0) {
        *error = rn.annotation + ": attempted to divide by zero";
        return false;
      }
      *out = Value::Own(b == -1 ? int64_t{0} : a % b);
      return true;
    }
    case BinaryOp::kEqual:
    case BinaryOp::kNotEqual:
    case BinaryOp::kGreater:
    case BinaryOp::kGreaterEqual:
    case BinaryOp::kLess:
    case BinaryOp::kLessEqual:
      return Compare(op, l, r, ln, rn, out, error);
    case BinaryOp::kAnd:
    case BinaryOp::kOr:
    case BinaryOp::kCoalesce:
      break;
  }
  *error = "unsupported operator";
  return false;
}

}  // namespace drover::bloblang
