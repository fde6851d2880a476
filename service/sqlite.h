// Minimal RAII wrappers over sqlite3 connections and prepared statements.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "base/error.h"

namespace cryo::service {

class SqliteError : public cryo::Error {
 public:
  using cryo::Error::Error;
};

class Statement;

class Database {
 public:
  explicit Database(const std::string& path);
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  void exec(const std::string& sql);
  // A statement for `sql`: one prepared earlier and since reset when there is one (preparing
  // is most of the cost of a small query, such as the sandbox lookup of every request).
  Statement prepare(const std::string& sql);
  int64_t changes() const;
  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  friend class Statement;
  static constexpr size_t kMaxIdle = 32;  // idle statements kept; the SQL texts are few
  sqlite3_stmt* take_idle(const std::string& sql);
  void keep_idle(std::string sql, sqlite3_stmt* stmt);  // resets it (ending its read) or finalizes

  sqlite3* db_ = nullptr;
  std::string path_;
  std::mutex idle_mu_;
  std::unordered_multimap<std::string, sqlite3_stmt*> idle_;
};

class Statement {
 public:
  Statement(Database& db, const std::string& sql);
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& o) noexcept;
  ~Statement();

  // Binds by 1-based position; returns *this for chaining.
  Statement& bind(int index, const std::string& value);
  Statement& bind(int index, int64_t value);
  Statement& bind(int index, double value);
  Statement& bind_null(int index);
  Statement& bind(int index, const std::optional<std::string>& value);

  // Advances to the next row; false when done.
  bool step();
  // Runs a statement that returns no rows.
  void run();

  std::string text(int column) const;
  std::optional<std::string> optional_text(int column) const;
  int64_t integer(int column) const;
  double real(int column) const;

 private:
  Database* db_;
  std::string sql_;  // its key among the database's idle statements
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace cryo::service
