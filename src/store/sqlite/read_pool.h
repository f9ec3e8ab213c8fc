// A fixed set of read-only connections. `take` lends one to the calling thread until the Lease
// is dropped (waiting when all are lent). `close` waits for every lease to come back, then
// closes them; later `take`s fail with ServiceUnavailable. Thread-safe.
#pragma once

#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "base/base.h"
#include "store/sqlite/db.h"

namespace cityroom::store::sqlite {

class ReadPool {
 public:
  class Lease {
   public:
    Lease(ReadPool* pool, Connection* c) : pool_(pool), c_(c) {}
    Lease(Lease&& other) noexcept : pool_(other.pool_), c_(other.c_) { other.c_ = nullptr; }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (c_) pool_->give_back(c_);
    }
    Connection& operator*() const { return *c_; }

   private:
    ReadPool* pool_;
    Connection* c_;
  };

  // Opens `count` connections to `file`, each with `cache_kib` of page cache.
  base::Result<void> open(const std::filesystem::path& file, std::size_t count,
                          std::size_t cache_kib);
  base::Result<Lease> take();
  void close();

 private:
  void give_back(Connection* c);

  std::mutex mu_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<Connection>> all_;
  std::vector<Connection*> free_;
  bool closed_ = false;
};

}  // namespace cityroom::store::sqlite
