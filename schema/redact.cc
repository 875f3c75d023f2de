#include "schema/redact.h"

#include <initializer_list>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace enrich::schema {
namespace {

// Bytes that continue a token: a secret next to one of them is part of a longer value.
bool IsTokenByte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return absl::ascii_isalnum(u) || c == '_' || c == '-' || u >= 0x80;
}

bool IsQuote(char c) { return c == '"' || c == '\''; }

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// True when `before` ends with a key naming a secret, `=` or `:`, and optional quotes and
// blanks: `client_secret=`, `"client_secret":"`, `Password: `.
bool EndsWithSecretKey(absl::string_view before) {
  size_t i = before.size();
  if (i > 0 && IsQuote(before[i - 1])) --i;  // the value's opening quote
  while (i > 0 && IsBlank(before[i - 1])) --i;
  if (i == 0 || (before[i - 1] != '=' && before[i - 1] != ':')) return false;
  --i;
  while (i > 0 && IsBlank(before[i - 1])) --i;
  if (i > 0 && IsQuote(before[i - 1])) --i;  // the key's closing quote
  const size_t end = i;
  while (i > 0 && IsTokenByte(before[i - 1])) --i;
  const std::string key = absl::AsciiStrToLower(before.substr(i, end - i));
  for (absl::string_view name : {"secret", "password", "passwd", "pwd", "token", "key"}) {
    if (absl::EndsWith(key, name)) return true;
  }
  return false;
}

// `text` with the credential of every `Authorization: Basic X` / `Authorization: Bearer X`
// (any letter case, `:` or `=` after the header name) replaced.
std::string RedactAuthorization(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  std::string out;
  size_t copied = 0;
  for (size_t at = lower.find("authorization"); at != std::string::npos;
       at = lower.find("authorization", at + 1)) {
    size_t i = at + 13;
    if (i < lower.size() && IsQuote(lower[i])) ++i;
    while (i < lower.size() && IsBlank(lower[i])) ++i;
    if (i >= lower.size() || (lower[i] != ':' && lower[i] != '=')) continue;
    ++i;
    while (i < lower.size() && (IsBlank(lower[i]) || IsQuote(lower[i]))) ++i;
    const absl::string_view rest = absl::string_view(lower).substr(i);
    if (absl::StartsWith(rest, "basic ")) {
      i += 6;
    } else if (absl::StartsWith(rest, "bearer ")) {
      i += 7;
    } else {
      continue;
    }
    while (i < lower.size() && IsBlank(lower[i])) ++i;
    size_t end = i;
    while (end < lower.size() && !IsBlank(lower[end]) && !IsQuote(lower[end]) &&
           lower[end] != ',' && lower[end] != ';' && lower[end] != '\r' && lower[end] != '\n') {
      ++end;
    }
    if (end == i || i < copied) continue;
    absl::StrAppend(&out, text.substr(copied, i - copied), kRedacted);
    copied = end;
  }
  absl::StrAppend(&out, text.substr(copied));
  return out;
}

}  // namespace

bool IsPlainWord(absl::string_view secret) {
  if (secret.empty() || secret.size() >= 16) return false;
  size_t upper = 0;
  for (char c : secret) {
    if (!absl::ascii_isalpha(static_cast<unsigned char>(c))) return false;
    if (absl::ascii_isupper(static_cast<unsigned char>(c))) ++upper;
  }
  const bool capitalized = upper == 1 && absl::ascii_isupper(static_cast<unsigned char>(secret[0]));
  return upper == 0 || upper == secret.size() || capitalized;
}

std::string RedactSecret(absl::string_view text, absl::string_view secret) {
  if (secret.empty()) return RedactAuthorization(text);
  const bool plain_word = IsPlainWord(secret);
  std::string out;
  size_t copied = 0;
  size_t from = 0;
  for (size_t at = text.find(secret); at != absl::string_view::npos; at = text.find(secret, from)) {
    const size_t end = at + secret.size();
    const bool whole = (at == 0 || !IsTokenByte(text[at - 1])) &&
                       (end == text.size() || !IsTokenByte(text[end]));
    const bool user_info = at > 0 && text[at - 1] == ':' && end < text.size() && text[end] == '@';
    if (whole && (!plain_word || user_info || EndsWithSecretKey(text.substr(0, at)))) {
      absl::StrAppend(&out, text.substr(copied, at - copied), kRedacted);
      copied = from = end;
    } else {
      from = at + 1;
    }
  }
  absl::StrAppend(&out, text.substr(copied));
  return RedactAuthorization(out);
}

}  // namespace enrich::schema
