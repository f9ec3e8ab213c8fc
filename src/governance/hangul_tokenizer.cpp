#include "governance/hangul_tokenizer.h"

#include <vector>

namespace cityroom::governance {
namespace {

enum class Class { kSeparator, kSyllable, kWord };

// One UTF-8 code point at s[i]; advances i. Invalid bytes are returned as U+FFFD (a separator).
char32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto b = static_cast<unsigned char>(s[i]);
  std::size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
  if (len == 0 || i + len > s.size()) {
    ++i;
    return 0xFFFD;
  }
  char32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
  for (std::size_t k = 1; k < len; ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  }
  i += len;
  return cp;
}

Class classify(char32_t c) {
  if ((c >= 0xAC00 && c <= 0xD7A3) ||  // Hangul syllables
      (c >= 0x4E00 && c <= 0x9FFF) ||  // CJK unified ideographs (Hanja in names)
      (c >= 0x3400 && c <= 0x4DBF)) {
    return Class::kSyllable;
  }
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
    return Class::kWord;
  }
  // Other letters (Latin with diacritics, Greek, Cyrillic...) join words; ASCII punctuation,
  // spaces, symbols and Hangul jamo/compatibility letters separate.
  if (c >= 0xC0 && c < 0x2000 && c != 0xD7 && c != 0xF7) return Class::kWord;
  return Class::kSeparator;
}

struct Piece {
  std::size_t begin, end;  // byte range in the text
};

void emit_syllable_run(std::string_view text, const std::vector<Piece>& run, bool query,
                       const TokenSink& emit) {
  const auto span = [&](std::size_t a, std::size_t b, bool colocated) {
    emit(text.substr(run[a].begin, run[b].end - run[a].begin), colocated, run[a].begin,
         run[b].end);
  };
  if (run.size() == 1) {
    span(0, 0, false);
    return;
  }
  for (std::size_t i = 0; i + 1 < run.size(); ++i) {
    span(i, i + 1, false);
    if (!query) span(i, i, true);
  }
  if (!query) span(run.size() - 1, run.size() - 1, false);
}

}  // namespace

void hangul_tokens(std::string_view text, bool query, const TokenSink& emit) {
  std::vector<Piece> run;
  std::string word;
  std::size_t word_begin = 0, word_end = 0;
  Class current = Class::kSeparator;
  std::size_t i = 0;
  const auto flush = [&] {
    if (current == Class::kSyllable && !run.empty()) emit_syllable_run(text, run, query, emit);
    if (current == Class::kWord && !word.empty()) emit(word, false, word_begin, word_end);
    run.clear();
    word.clear();
  };
  while (i < text.size()) {
    const std::size_t begin = i;
    const char32_t cp = next_code_point(text, i);
    const Class c = classify(cp);
    if (c != current) {
      flush();
      current = c;
    }
    if (c == Class::kSyllable) {
      run.push_back({begin, i});
    } else if (c == Class::kWord) {
      if (word.empty()) word_begin = begin;
      word_end = i;
      for (std::size_t k = begin; k < i; ++k) {
        const char ch = text[k];
        word += (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
      }
    }
  }
  flush();
}

namespace {

int xCreate(void*, const char**, int, Fts5Tokenizer** out) {
  // Stateless: any non-null pointer will do.
  static int instance = 0;
  *out = reinterpret_cast<Fts5Tokenizer*>(&instance);
  return SQLITE_OK;
}

void xDelete(Fts5Tokenizer*) {}

int xTokenize(Fts5Tokenizer*, void* ctx, int flags, const char* text, int n,
              int (*token)(void*, int, const char*, int, int, int)) {
  const std::string_view t(text, n > 0 ? static_cast<std::size_t>(n) : 0);
  const bool query = (flags & FTS5_TOKENIZE_QUERY) != 0;
  int rc = SQLITE_OK;
  hangul_tokens(t, query,
                [&](std::string_view tok, bool colocated, std::size_t begin, std::size_t end) {
                  if (rc != SQLITE_OK) return;
                  rc = token(ctx, colocated ? FTS5_TOKEN_COLOCATED : 0, tok.data(),
                             static_cast<int>(tok.size()), static_cast<int>(begin),
                             static_cast<int>(end));
                });
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

}  // namespace

base::Result<void> register_hangul_tokenizer(sqlite3* db) {
  fts5_api* api = nullptr;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, nullptr) != SQLITE_OK) {
    return base::fail(base::ErrorKind::kInternalError,
                      std::string("FTS5 is not available: ") + sqlite3_errmsg(db));
  }
  sqlite3_bind_pointer(st, 1, static_cast<void*>(&api), "fts5_api_ptr", nullptr);
  sqlite3_step(st);
  sqlite3_finalize(st);
  if (!api) return base::fail(base::ErrorKind::kInternalError, "FTS5 is not available");
  static fts5_tokenizer tokenizer{xCreate, xDelete, xTokenize};
  if (api->xCreateTokenizer(api, std::string(kHangulTokenizerName).c_str(), nullptr, &tokenizer,
                            nullptr) != SQLITE_OK) {
    return base::fail(base::ErrorKind::kInternalError, "cannot register the hangul tokenizer");
  }
  return {};
}

std::string match_expression(std::string_view q) {
  std::string out;
  std::size_t i = 0;
  while (i < q.size()) {
    while (i < q.size() && (q[i] == ' ' || q[i] == '\t' || q[i] == '\n')) ++i;
    std::size_t j = i;
    while (j < q.size() && q[j] != ' ' && q[j] != '\t' && q[j] != '\n') ++j;
    if (j > i) {
      // Only words that give tokens: a lone "-" would make an empty phrase (a syntax error).
      bool any = false;
      hangul_tokens(q.substr(i, j - i), true,
                    [&](std::string_view, bool, std::size_t, std::size_t) { any = true; });
      if (any) {
        if (!out.empty()) out += " AND ";
        out += '"';
        for (char c : q.substr(i, j - i)) {
          if (c == '"') out += '"';
          out += c;
        }
        out += '"';
      }
    }
    i = j;
  }
  return out;
}

}  // namespace cityroom::governance
