// Running an import: read, select, map, deduplicate ids, and upsert in batches; the hub sink.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <future>
#include <sstream>
#include <unordered_map>

#include "ingest/import.h"
#include "model/model.h"

namespace cityroom::ingest {
namespace {

using base::ErrorKind;

base::Result<std::string> read_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("{}: cannot read: {}", path.string(), ec.message()));
  }
  if (size > kImportSourceBytesMax) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("{}: {} bytes is more than the {} an import reads",
                                  path.string(), size, kImportSourceBytesMax));
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (!in) return base::fail(ErrorKind::kInvalidRequest, fmt::format("{}: cannot read", path.string()));
  return bytes;
}

class HubSink final : public ImportSink {
 public:
  HubSink(hub::Hub& hub, ldcontext::ContextStore& contexts) : hub_(hub), contexts_(contexts) {}

  base::Result<SinkOutcome> upsert(const ImportMapping& m,
                                   std::vector<json::object> entities) override {
    auto ctx = context_for(m);
    if (!ctx) return std::unexpected(ctx.error());
    const auto now = base::now_micros();
    std::vector<hub::BatchItem> items;
    items.reserve(entities.size());
    std::unordered_map<std::string, std::size_t> index_of;
    for (std::size_t i = 0; i < entities.size(); ++i) {
      std::string id(entities[i].at("id").get_string());
      index_of.emplace(id, i);
      items.push_back({id, model::parse_entity(entities[i], **ctx,
                                               {model::ParseMode::kEntity, false, now})});
    }
    std::promise<base::Result<hub::BatchOutcome>> done;
    auto result = done.get_future();
    hub_.batch(m.tenant,
               m.upsert == UpsertMode::kUpdate ? hub::BatchKind::kUpsertUpdate
                                               : hub::BatchKind::kUpsertReplace,
               std::move(items),
               [&done](base::Result<hub::BatchOutcome> r) { done.set_value(std::move(r)); });
    auto outcome = result.get();
    if (!outcome) return std::unexpected(outcome.error());
    SinkOutcome out{outcome->created.size(), {}};
    for (const auto& f : outcome->errors) {
      const auto it = index_of.find(f.id);
      out.failures.push_back({it == index_of.end() ? 0 : it->second, f.error.detail});
    }
    return out;
  }

 private:
  base::Result<ldcontext::ContextPtr> context_for(const ImportMapping& m) {
    if (m.context.is_null()) return contexts_.core();
    const auto key = json::serialize(m.context);
    if (const auto it = cache_.find(key); it != cache_.end()) return it->second;
    auto ctx = contexts_.resolve(m.context);
    if (!ctx) {
      return base::fail(ctx.error().kind,
                        fmt::format("the mapping's @context: {}", ctx.error().detail));
    }
    cache_.emplace(key, *ctx);
    return *ctx;
  }

  hub::Hub& hub_;
  ldcontext::ContextStore& contexts_;
  std::unordered_map<std::string, ldcontext::ContextPtr> cache_;
};

struct Batch {
  std::vector<json::object> entities;
  std::vector<std::size_t> lines;
};

void add_error(ImportReport& r, std::size_t line, std::string message) {
  ++r.bad;
  if (r.errors.size() < kImportRowErrorsKept) r.errors.push_back({line, std::move(message)});
}

base::Result<void> flush(const ImportMapping& m, ImportSink* sink, bool dry_run, Batch& batch,
                         ImportReport& report) {
  if (batch.entities.empty()) return {};
  const auto n = batch.entities.size();
  if (dry_run) {
    report.imported += n;
  } else {
    auto outcome = sink->upsert(m, std::move(batch.entities));
    if (!outcome) return std::unexpected(outcome.error());
    for (const auto& f : outcome->failures) {
      add_error(report, f.index < batch.lines.size() ? batch.lines[f.index] : 0, f.message);
    }
    report.imported += n - std::min(n, outcome->failures.size());
    report.created += outcome->created;
  }
  batch.entities.clear();
  batch.lines.clear();
  return {};
}

}  // namespace

std::unique_ptr<ImportSink> make_hub_sink(hub::Hub& hub, ldcontext::ContextStore& contexts) {
  return std::make_unique<HubSink>(hub, contexts);
}

base::Result<ImportReport> run_import(const ImportMapping& m,
                                      const std::filesystem::path& source_arg, ImportSink* sink,
                                      bool dry_run) {
  const auto started = std::chrono::steady_clock::now();
  const auto source = source_arg.empty() ? m.source_file : source_arg;
  if (source.empty()) {
    return base::fail(ErrorKind::kInvalidRequest,
                      "no SOURCE given and the mapping has no source.file");
  }
  if (!dry_run && !sink) return base::fail(ErrorKind::kInternalError, "run_import without a sink");
  ImportReport report;
  report.mapping = m.name;
  report.source = source.filename().string();
  report.format = m.format;
  auto bytes = read_file(source);
  if (!bytes) return std::unexpected(bytes.error());
  auto read = read_source(m, *bytes);
  if (!read) {
    return base::fail(read.error().kind,
                      fmt::format("{}: {}", source.string(), read.error().detail));
  }
  bytes->clear();
  bytes->shrink_to_fit();
  report.records = read->records.size() + read->errors.size();
  for (auto& e : read->errors) add_error(report, e.line, std::move(e.message));
  std::unordered_map<std::string, std::size_t> first_line_of_id;
  Batch batch;
  for (const auto& record : read->records) {
    if (!record_selected(m, record)) {
      ++report.filtered_out;
      continue;
    }
    auto entity = map_record(m, record);
    if (!entity) {
      add_error(report, record.line, entity.error().detail);
      continue;
    }
    std::string id(entity->at("id").get_string());
    if (const auto [it, fresh] = first_line_of_id.emplace(id, record.line); !fresh) {
      add_error(report, record.line,
                fmt::format("the id {} was already made from {} {}; make entity.id unique",
                            id, m.format == SourceFormat::kCsv ? "line" : "feature",
                            it->second));
      continue;
    }
    batch.entities.push_back(std::move(*entity));
    batch.lines.push_back(record.line);
    if (batch.entities.size() >= kImportBatchEntitiesMax) {
      if (auto ok = flush(m, sink, dry_run, batch, report); !ok) return std::unexpected(ok.error());
    }
  }
  if (auto ok = flush(m, sink, dry_run, batch, report); !ok) return std::unexpected(ok.error());
  std::ranges::stable_sort(report.errors, {}, &RowError::line);
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

std::string format_row_error(const ImportReport& r, const RowError& e) {
  if (r.format == SourceFormat::kGeoJson) {
    return fmt::format("{}: feature {}: {}", r.source, e.line, e.message);
  }
  return fmt::format("{}:{}: {}", r.source, e.line, e.message);
}

std::string format_report(const ImportReport& r) {
  return fmt::format("{}: {} records, {} filtered out, {} imported ({} new), {} bad, {:.2f} s",
                     r.mapping, r.records, r.filtered_out, r.imported, r.created, r.bad,
                     r.seconds);
}

}  // namespace cityroom::ingest
