#include "tools/sim/graphql_subset.h"

#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace enrich::sim {
namespace {

enum class Tok { kPunct, kName, kString, kNumber, kEnd };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;  // punctuator, name, decoded string, or number text
  int line = 1;
  int column = 1;
};

class Lexer {
 public:
  explicit Lexer(absl::string_view text) : text_(text) {}

  absl::StatusOr<Token> Next() {
    SkipIgnored();
    Token t;
    t.line = line_;
    t.column = static_cast<int>(pos_ - line_start_) + 1;
    if (pos_ >= text_.size()) return t;
    const char c = text_[pos_];
    if (absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_') {
      t.kind = Tok::kName;
      const size_t start = pos_;
      while (pos_ < text_.size() &&
             (absl::ascii_isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) {
        ++pos_;
      }
      t.text = std::string(text_.substr(start, pos_ - start));
      return t;
    }
    if (absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-') {
      t.kind = Tok::kNumber;
      const size_t start = pos_++;
      while (pos_ < text_.size() && (absl::ascii_isalnum(static_cast<unsigned char>(text_[pos_])) ||
                                     text_[pos_] == '.' || text_[pos_] == '+' ||
                                     text_[pos_] == '-')) {
        ++pos_;
      }
      t.text = std::string(text_.substr(start, pos_ - start));
      return t;
    }
    if (c == '"') return String(t);
    if (absl::string_view("{}():$!=[]@").find(c) != absl::string_view::npos) {
      t.kind = Tok::kPunct;
      t.text = std::string(1, c);
      ++pos_;
      return t;
    }
    return Error(t, absl::StrCat("Unexpected character \"", std::string(1, c), "\""));
  }

  static absl::Status Error(const Token& at, absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("Syntax error at line ", at.line, ", column ", at.column, ": ", what));
  }

 private:
  void SkipIgnored() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '\n') {
        ++pos_;
        ++line_;
        line_start_ = pos_;
      } else if (c == ' ' || c == '\t' || c == '\r' || c == ',') {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else {
        return;
      }
    }
  }

  absl::StatusOr<Token> String(Token t) {
    t.kind = Tok::kString;
    ++pos_;  // opening quote
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return t;
      if (c == '\n') break;
      if (c != '\\') {
        t.text.push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) break;
      const char e = text_[pos_++];
      switch (e) {
        case '"': case '\\': case '/': t.text.push_back(e); break;
        case 'b': t.text.push_back('\b'); break;
        case 'f': t.text.push_back('\f'); break;
        case 'n': t.text.push_back('\n'); break;
        case 'r': t.text.push_back('\r'); break;
        case 't': t.text.push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (pos_ + 4 > text_.size() ||
              !absl::SimpleHexAtoi(text_.substr(pos_, 4), &cp)) {
            return Error(t, "Invalid unicode escape in string");
          }
          pos_ += 4;
          // UTF-8 of a BMP code point (surrogate pairs are not needed for observables).
          if (cp < 0x80) {
            t.text.push_back(static_cast<char>(cp));
          } else if (cp < 0x800) {
            t.text.push_back(static_cast<char>(0xc0 | (cp >> 6)));
            t.text.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
          } else {
            t.text.push_back(static_cast<char>(0xe0 | (cp >> 12)));
            t.text.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
            t.text.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
          }
          break;
        }
        default:
          return Error(t, absl::StrCat("Invalid escape \\", std::string(1, e), " in string"));
      }
    }
    return Error(t, "Unterminated string");
  }

  absl::string_view text_;
  size_t pos_ = 0;
  size_t line_start_ = 0;
  int line_ = 1;
};

// The fields each object type of the subset has; a field with a non-empty set is an object.
struct TypeInfo {
  absl::string_view name;
  std::vector<std::pair<absl::string_view, const TypeInfo*>> fields;
};

const TypeInfo& ObservableType() {
  static const TypeInfo* observable_ref = [] {
    static TypeInfo ref{"ObservableRef", {{"type", nullptr}, {"value", nullptr}}};
    static TypeInfo valid{"ValidTime", {{"start_time", nullptr}, {"end_time", nullptr}}};
    static TypeInfo verdict{"Verdict",
                            {{"type", nullptr},
                             {"disposition", nullptr},
                             {"disposition_name", nullptr},
                             {"judgement_id", nullptr},
                             {"observable", &ref},
                             {"valid_time", &valid}}};
    static TypeInfo observable{"Observable",
                               {{"type", nullptr}, {"value", nullptr}, {"verdict", &verdict}}};
    return &observable;
  }();
  return *observable_ref;
}

class Parser {
 public:
  Parser(absl::string_view query, const rapidjson::Value* variables)
      : lexer_(query), variables_(variables) {}

  absl::StatusOr<std::vector<GraphqlObservable>> Document() {
    if (absl::Status s = Advance(); !s.ok()) return s;
    if (tok_.kind == Tok::kName) {
      if (tok_.text != "query") {
        return Lexer::Error(tok_, absl::StrCat("Only query operations are supported, not \"",
                                               tok_.text, "\""));
      }
      if (absl::Status s = Advance(); !s.ok()) return s;
      if (tok_.kind == Tok::kName) {  // operation name
        if (absl::Status s = Advance(); !s.ok()) return s;
      }
      if (IsPunct("(")) {  // variable definitions: their types are not checked
        int depth = 0;
        do {
          if (IsPunct("(")) ++depth;
          if (IsPunct(")")) --depth;
          if (tok_.kind == Tok::kEnd) return Lexer::Error(tok_, "Unterminated variable list");
          if (absl::Status s = Advance(); !s.ok()) return s;
        } while (depth > 0);
      }
    }
    if (absl::Status s = Expect("{"); !s.ok()) return s;
    std::vector<GraphqlObservable> out;
    absl::flat_hash_set<std::string> keys;
    while (!IsPunct("}")) {
      if (out.size() >= kGraphqlMaxObservables) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Too many fields: at most ", kGraphqlMaxObservables, " observables per query"));
      }
      absl::StatusOr<GraphqlObservable> o = Observable();
      if (!o.ok()) return o.status();
      if (!keys.insert(o->response_key).second) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Fields \"", o->response_key,
            "\" conflict: give each observable its own alias"));
      }
      out.push_back(*std::move(o));
    }
    if (absl::Status s = Advance(); !s.ok()) return s;  // the closing brace
    if (tok_.kind != Tok::kEnd) return Lexer::Error(tok_, "Expected end of document");
    if (out.empty()) return absl::InvalidArgumentError("Syntax error: empty selection set");
    return out;
  }

 private:
  absl::Status Advance() {
    absl::StatusOr<Token> t = lexer_.Next();
    if (!t.ok()) return t.status();
    tok_ = *std::move(t);
    return absl::OkStatus();
  }
  bool IsPunct(absl::string_view p) const { return tok_.kind == Tok::kPunct && tok_.text == p; }
  absl::Status Expect(absl::string_view p) {
    if (!IsPunct(p)) return Lexer::Error(tok_, absl::StrCat("Expected \"", p, "\", found ", Describe()));
    return Advance();
  }
  std::string Describe() const {
    switch (tok_.kind) {
      case Tok::kEnd: return "<EOF>";
      case Tok::kString: return absl::StrCat("string \"", tok_.text, "\"");
      default: return absl::StrCat("\"", tok_.text, "\"");
    }
  }
  absl::StatusOr<std::string> Name() {
    if (tok_.kind != Tok::kName) return Lexer::Error(tok_, absl::StrCat("Expected a name, found ", Describe()));
    std::string name = tok_.text;
    if (absl::Status s = Advance(); !s.ok()) return s;
    return name;
  }

  absl::StatusOr<GraphqlObservable> Observable() {
    GraphqlObservable o;
    const Token at = tok_;
    absl::StatusOr<std::string> first = Name();
    if (!first.ok()) return first.status();
    std::string field = *first;
    o.response_key = field;
    if (IsPunct(":")) {
      if (absl::Status s = Advance(); !s.ok()) return s;
      absl::StatusOr<std::string> second = Name();
      if (!second.ok()) return second.status();
      field = *second;
    }
    if (field != "observable") {
      return Lexer::Error(at, absl::StrCat("Cannot query field \"", field,
                                           "\" on type \"QueryRoot\" (this server answers "
                                           "observable only)"));
    }
    if (absl::Status s = Expect("("); !s.ok()) return s;
    bool has_type = false;
    bool has_value = false;
    while (!IsPunct(")")) {
      const Token arg_at = tok_;
      absl::StatusOr<std::string> arg = Name();
      if (!arg.ok()) return arg.status();
      if (absl::Status s = Expect(":"); !s.ok()) return s;
      absl::StatusOr<std::string> value = ArgumentValue();
      if (!value.ok()) return value.status();
      if (*arg == "type") {
        o.type = *std::move(value);
        has_type = true;
      } else if (*arg == "value") {
        o.value = *std::move(value);
        has_value = true;
      } else {
        return Lexer::Error(arg_at, absl::StrCat("Unknown argument \"", *arg,
                                                 "\" on field \"observable\""));
      }
    }
    if (absl::Status s = Advance(); !s.ok()) return s;
    if (!has_type || !has_value) {
      return Lexer::Error(at, "Field \"observable\" needs the arguments \"type\" and \"value\"");
    }
    absl::StatusOr<std::vector<GraphqlField>> sel = SelectionSet(ObservableType());
    if (!sel.ok()) return sel.status();
    o.selection = *std::move(sel);
    return o;
  }

  absl::StatusOr<std::string> ArgumentValue() {
    if (tok_.kind == Tok::kString) {
      std::string v = tok_.text;
      if (absl::Status s = Advance(); !s.ok()) return s;
      return v;
    }
    if (IsPunct("$")) {
      const Token at = tok_;
      if (absl::Status s = Advance(); !s.ok()) return s;
      absl::StatusOr<std::string> name = Name();
      if (!name.ok()) return name.status();
      if (variables_ == nullptr || !variables_->IsObject()) {
        return Lexer::Error(at, absl::StrCat("Variable \"$", *name, "\" is not defined"));
      }
      auto it = variables_->FindMember(name->c_str());
      if (it == variables_->MemberEnd() || !it->value.IsString()) {
        return Lexer::Error(at, absl::StrCat("Variable \"$", *name,
                                             "\" must be given as a string in variables"));
      }
      return std::string(it->value.GetString(), it->value.GetStringLength());
    }
    return Lexer::Error(tok_, absl::StrCat("Expected a string or a variable, found ", Describe()));
  }

  absl::StatusOr<std::vector<GraphqlField>> SelectionSet(const TypeInfo& type) {
    if (absl::Status s = Expect("{"); !s.ok()) return s;
    std::vector<GraphqlField> fields;
    while (!IsPunct("}")) {
      const Token at = tok_;
      absl::StatusOr<std::string> name = Name();
      if (!name.ok()) return name.status();
      const TypeInfo* sub = nullptr;
      bool known = false;
      for (const auto& [n, t] : type.fields) {
        if (n == *name) {
          known = true;
          sub = t;
        }
      }
      if (!known) {
        return Lexer::Error(at, absl::StrCat("Cannot query field \"", *name, "\" on type \"",
                                             type.name, "\""));
      }
      GraphqlField f;
      f.name = *std::move(name);
      if (sub != nullptr) {
        absl::StatusOr<std::vector<GraphqlField>> inner = SelectionSet(*sub);
        if (!inner.ok()) return inner.status();
        f.selection = *std::move(inner);
      } else if (IsPunct("{")) {
        return Lexer::Error(tok_, absl::StrCat("Field \"", f.name, "\" of type \"", type.name,
                                               "\" has no sub-selection"));
      }
      fields.push_back(std::move(f));
    }
    if (fields.empty()) return Lexer::Error(tok_, "Empty selection set");
    if (absl::Status s = Advance(); !s.ok()) return s;
    return fields;
  }

  Lexer lexer_;
  const rapidjson::Value* variables_;
  Token tok_;
};

}  // namespace

absl::StatusOr<std::vector<GraphqlObservable>> ParseGraphqlObservables(
    absl::string_view query, const rapidjson::Value* variables) {
  if (query.size() > kGraphqlMaxQueryBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("Query too large: at most ", kGraphqlMaxQueryBytes, " bytes"));
  }
  Parser parser(query, variables);
  return parser.Document();
}

}  // namespace enrich::sim
