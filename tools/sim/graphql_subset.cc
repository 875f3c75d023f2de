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
// A field of a `connection` type takes the connection arguments (first, orderBy).
struct TypeInfo {
  absl::string_view name;
  std::vector<std::pair<absl::string_view, const TypeInfo*>> fields;
  bool connection = false;
};

const TypeInfo& ObservableType() {
  static const TypeInfo* observable_ref = [] {
    static TypeInfo ref{"ObservableRef", {{"type", nullptr}, {"value", nullptr}}};
    static TypeInfo valid{"ValidTime", {{"start_time", nullptr}, {"end_time", nullptr}}};
    static TypeInfo judgement{"Judgement",
                              {{"id", nullptr},
                               {"type", nullptr},
                               {"source", nullptr},
                               {"source_uri", nullptr},
                               {"reason", nullptr},
                               {"severity", nullptr},
                               {"confidence", nullptr},
                               {"priority", nullptr},
                               {"tlp", nullptr},
                               {"disposition", nullptr},
                               {"disposition_name", nullptr},
                               {"timestamp", nullptr},
                               {"observable", &ref},
                               {"valid_time", &valid}}};
    static TypeInfo verdict{"Verdict",
                            {{"type", nullptr},
                             {"disposition", nullptr},
                             {"disposition_name", nullptr},
                             {"judgement_id", nullptr},
                             {"observable", &ref},
                             {"valid_time", &valid},
                             {"judgement", &judgement}}};
    static TypeInfo page{"PageInfo",
                         {{"hasNextPage", nullptr},
                          {"hasPreviousPage", nullptr},
                          {"startCursor", nullptr},
                          {"endCursor", nullptr}}};
    static TypeInfo edge{"JudgementEdge", {{"cursor", nullptr}, {"node", &judgement}}};
    static TypeInfo connection{"JudgementConnection",
                               {{"totalCount", nullptr},
                                {"nodes", &judgement},
                                {"edges", &edge},
                                {"pageInfo", &page}},
                               /*connection=*/true};
    static TypeInfo observable{"Observable",
                               {{"type", nullptr},
                                {"value", nullptr},
                                {"verdict", &verdict},
                                {"judgements", &connection}}};
    return &observable;
  }();
  return *observable_ref;
}

// CTIA's judgement sort fields (ctia: src/ctia/entity/judgement/schemas.clj
// `judgement-fields`); GraphQL names them as enum values, upper case with '.' → '_'.
std::optional<std::string> SortFieldOfEnum(absl::string_view name) {
  static constexpr absl::string_view kFields[] = {
      "id", "schema_version", "revision", "timestamp", "language", "tlp", "source",
      "source_uri", "disposition", "priority", "confidence", "severity",
      "valid_time.start_time", "valid_time.end_time", "reason", "observable.type",
      "observable.value"};
  for (absl::string_view f : kFields) {
    std::string e = absl::AsciiStrToUpper(f);
    for (char& c : e) {
      if (c == '.') c = '_';
    }
    if (e == name) return std::string(f);
  }
  return std::nullopt;
}

// An argument value of the connection arguments: a number (its text), a string, an enum
// name, a list or an input object.
struct ArgValue {
  enum class Kind { kNumber, kString, kEnum, kList, kObject };
  Kind kind = Kind::kNumber;
  std::string text;
  std::vector<ArgValue> items;
  std::vector<std::pair<std::string, ArgValue>> fields;
};

// A variable's JSON value as an argument value (an enum value travels as a JSON string).
ArgValue FromJson(const rapidjson::Value& v) {
  ArgValue a;
  a.kind = ArgValue::Kind::kNumber;
  if (v.IsString()) {
    a.kind = ArgValue::Kind::kEnum;
    a.text.assign(v.GetString(), v.GetStringLength());
  } else if (v.IsInt64()) {
    a.text = absl::StrCat(v.GetInt64());
  } else if (v.IsArray()) {
    a.kind = ArgValue::Kind::kList;
    for (const rapidjson::Value& item : v.GetArray()) a.items.push_back(FromJson(item));
  } else if (v.IsObject()) {
    a.kind = ArgValue::Kind::kObject;
    for (const auto& m : v.GetObject()) {
      a.fields.emplace_back(std::string(m.name.GetString(), m.name.GetStringLength()),
                            FromJson(m.value));
    }
  } else {
    a.kind = ArgValue::Kind::kString;  // null, a boolean or a fraction: no value of ours
    a.text = "null";
  }
  return a;
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
      if (IsPunct("(")) {
        if (sub == nullptr || !sub->connection) {
          return Lexer::Error(tok_, absl::StrCat("Field \"", f.name, "\" of type \"",
                                                 type.name, "\" takes no arguments"));
        }
        if (absl::Status s = ConnectionArguments(f); !s.ok()) return s;
      }
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

  // `(first: N, orderBy: [...])` of a connection field, into `f`.
  absl::Status ConnectionArguments(GraphqlField& f) {
    if (absl::Status s = Advance(); !s.ok()) return s;  // "("
    while (!IsPunct(")")) {
      const Token at = tok_;
      absl::StatusOr<std::string> arg = Name();
      if (!arg.ok()) return arg.status();
      if (absl::Status s = Expect(":"); !s.ok()) return s;
      absl::StatusOr<ArgValue> value = AnyValue();
      if (!value.ok()) return value.status();
      if (*arg == "first") {
        if (value->kind != ArgValue::Kind::kNumber || !absl::SimpleAtoi(value->text, &f.first) ||
            f.first < 0) {
          return Lexer::Error(at, "Argument \"first\" must be a non-negative integer");
        }
      } else if (*arg == "orderBy") {
        if (absl::Status s = OrderBy(at, *value, f); !s.ok()) return s;
      } else {
        return Lexer::Error(at, absl::StrCat("Unknown argument \"", *arg, "\" on field \"",
                                             f.name, "\" (ctia-sim takes first and orderBy)"));
      }
    }
    return Advance();  // ")"
  }

  static absl::Status OrderBy(const Token& at, const ArgValue& value, GraphqlField& f) {
    std::vector<ArgValue> items;
    if (value.kind == ArgValue::Kind::kList) {
      items = value.items;
    } else {
      items.push_back(value);  // a single value stands for a list of one
    }
    for (const ArgValue& item : items) {
      const ArgValue* field = nullptr;
      const ArgValue* direction = nullptr;
      if (item.kind == ArgValue::Kind::kObject) {
        for (const auto& [k, v] : item.fields) {
          if (k == "field") field = &v;
          if (k == "direction") direction = &v;
        }
      }
      if (field == nullptr || direction == nullptr || field->kind != ArgValue::Kind::kEnum ||
          direction->kind != ArgValue::Kind::kEnum ||
          (direction->text != "asc" && direction->text != "desc")) {
        return Lexer::Error(at, "Argument \"orderBy\" takes {field: JudgementOrderField, "
                                "direction: asc|desc} objects");
      }
      std::optional<std::string> sort_field = SortFieldOfEnum(field->text);
      if (!sort_field.has_value()) {
        return Lexer::Error(at, absl::StrCat("\"", field->text,
                                             "\" is not a value of JudgementOrderField"));
      }
      f.order_by.emplace_back(*std::move(sort_field), direction->text == "desc");
    }
    return absl::OkStatus();
  }

  // Any argument value: string, number, enum name, list, input object or $variable.
  absl::StatusOr<ArgValue> AnyValue() {
    ArgValue a;
    if (tok_.kind == Tok::kString || tok_.kind == Tok::kNumber || tok_.kind == Tok::kName) {
      a.kind = tok_.kind == Tok::kName     ? ArgValue::Kind::kEnum
               : tok_.kind == Tok::kString ? ArgValue::Kind::kString
                                           : ArgValue::Kind::kNumber;
      a.text = tok_.text;
      if (absl::Status s = Advance(); !s.ok()) return s;
      return a;
    }
    if (IsPunct("$")) {
      const Token at = tok_;
      if (absl::Status s = Advance(); !s.ok()) return s;
      absl::StatusOr<std::string> name = Name();
      if (!name.ok()) return name.status();
      if (variables_ == nullptr || !variables_->IsObject() ||
          !variables_->HasMember(name->c_str())) {
        return Lexer::Error(at, absl::StrCat("Variable \"$", *name, "\" is not defined"));
      }
      return FromJson((*variables_)[name->c_str()]);
    }
    const bool list = IsPunct("[");
    if (!list && !IsPunct("{")) {
      return Lexer::Error(tok_, absl::StrCat("Expected a value, found ", Describe()));
    }
    if (++value_depth_ > 8) return Lexer::Error(tok_, "Argument value nested too deep");
    a.kind = list ? ArgValue::Kind::kList : ArgValue::Kind::kObject;
    if (absl::Status s = Advance(); !s.ok()) return s;
    while (!IsPunct(list ? "]" : "}")) {
      if (tok_.kind == Tok::kEnd) return Lexer::Error(tok_, "Unterminated argument value");
      std::string key;
      if (!list) {
        absl::StatusOr<std::string> name = Name();
        if (!name.ok()) return name.status();
        key = *std::move(name);
        if (absl::Status s = Expect(":"); !s.ok()) return s;
      }
      absl::StatusOr<ArgValue> item = AnyValue();
      if (!item.ok()) return item.status();
      if (list) {
        a.items.push_back(*std::move(item));
      } else {
        a.fields.emplace_back(std::move(key), *std::move(item));
      }
    }
    --value_depth_;
    if (absl::Status s = Advance(); !s.ok()) return s;
    return a;
  }

  Lexer lexer_;
  const rapidjson::Value* variables_;
  int value_depth_ = 0;
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
