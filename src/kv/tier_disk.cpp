#include "kv/tier_disk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace kiln::kv::tier {

namespace {

uint64_t now_ns() {
  return uint64_t(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

std::string root_dir_name(const BlockHash& model_root) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(model_root.hi),
                static_cast<unsigned long long>(model_root.lo));
  return buf;
}

}  // namespace

DiskTier::DiskTier(const DiskTierConfig& config, const CacheConfig& cache, const BlockHash& model_root)
    : config_(config), index_(config.budget_bytes) {
  if (config.directory.empty()) throw kiln::Error("KV disk tier needs a directory (KILN_KV_DIR)");
  if (config.budget_bytes == 0) throw kiln::Error("KV disk tier needs a positive byte budget (KILN_KV_DISK_BYTES)");
  dir_ = std::filesystem::path(config.directory) / root_dir_name(model_root);
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) throw kiln::Error("KV disk tier: cannot create " + dir_.string() + ": " + ec.message());
  for (size_t g = 0; g < cache.groups.size(); ++g) {
    fingerprints_.push_back(layout_fingerprint(cache, int(g)));
    payload_bytes_.push_back(make_layout(cache, cache.groups[g]).block_bytes);
    needs_parent_.push_back(cache.groups[g].window == 0);
  }
  stats_.enabled = true;
  stats_.budget_bytes = config.budget_bytes;
  scan();
  writer_ = std::thread([this] { writer_loop(); });
}

DiskTier::~DiskTier() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_writer_.notify_all();
  writer_.join();
}

void DiskTier::scan() {
  struct Found {
    std::filesystem::file_time_type mtime;
    EntryHeader header;
  };
  std::vector<Found> found;
  std::vector<std::filesystem::path> doomed;
  for (const auto& item : std::filesystem::directory_iterator(dir_)) {
    if (!item.is_regular_file()) continue;
    const std::string name = item.path().filename().string();
    if (is_temp_file_name(name)) {  // a write a crash interrupted
      doomed.push_back(item.path());
      ++stats_.temp_removed;
      continue;
    }
    if (!is_entry_file_name(name)) continue;  // not ours: left alone
    EntryHeader h;
    const ReadStatus status = read_header(item.path(), 0, h);
    const bool ok = status == ReadStatus::Ok ||
                    (h.key.group < fingerprints_.size() && read_header(item.path(), fingerprints_[h.key.group], h) ==
                                                                ReadStatus::Ok);
    if (!ok || entry_file_name(h.key) != name || h.payload_bytes != payload_bytes_[h.key.group]) {
      doomed.push_back(item.path());
      ++stats_.corrupt_removed;
      continue;
    }
    std::error_code ec;
    found.push_back({std::filesystem::last_write_time(item.path(), ec), h});
  }
  for (const auto& p : doomed) std::filesystem::remove(p);
  // Recency survives a restart through the files' modification times (a
  // touch refreshes them): rank them oldest first.
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) { return a.mtime < b.mtime; });
  for (size_t i = 0; i < found.size(); ++i) {
    const EntryHeader& h = found[i].header;
    index_.load(h.key, h.parent, h.depth, entry_disk_bytes(h.payload_bytes), double(i));
  }
  tick_ = double(found.size());
  std::vector<EntryKey> evicted;
  index_.finish_load(evicted);  // the budget may have shrunk since
  for (const EntryKey& k : evicted) remove_file(k);
  stats_.evictions += evicted.size();
}

bool DiskTier::contains(const EntryKey& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  return index_.contains(key) && !in_flight_.count(key);
}

double DiskTier::next_tick() {
  std::lock_guard<std::mutex> lock(mu_);
  return ++tick_;
}

void DiskTier::write_async(const EntryKey& key, const BlockHash& parent, uint32_t depth,
                           std::span<const uint8_t> bytes) {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_ || index_.contains(key) || in_flight_.count(key)) return;
  if (queued_bytes_ + bytes.size() > config_.write_queue_bytes) {
    ++stats_.writes_dropped;
    return;
  }
  Op op;
  op.is_write = true;
  op.header.key = key;
  op.header.parent = parent;
  op.header.depth = depth;
  op.header.layout_fingerprint = fingerprints_[key.group];
  op.header.payload_bytes = bytes.size();
  op.tick = tick_;
  if (!spare_buffers_.empty()) {
    op.bytes = std::move(spare_buffers_.back());
    spare_buffers_.pop_back();
  }
  op.bytes.assign(bytes.begin(), bytes.end());
  queued_bytes_ += bytes.size();
  in_flight_.insert(key);
  queue_.push_back(std::move(op));
  lock.unlock();
  wake_writer_.notify_one();
}

void DiskTier::touch_async(std::vector<BlockHash> chain, double tick, bool hit) {
  if (chain.empty()) return;
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) return;
  Op op;
  op.is_write = false;
  op.chain = std::move(chain);
  op.tick = tick;
  op.hit = hit;
  queue_.push_back(std::move(op));
  lock.unlock();
  wake_writer_.notify_one();
}

void DiskTier::writer_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_writer_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stopping, and everything queued is done
    Op op = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    if (op.is_write)
      do_write(op);
    else
      do_touch(op);
    lock.lock();
    if (op.is_write) {
      queued_bytes_ -= op.header.payload_bytes;
      in_flight_.erase(op.header.key);
      if (spare_buffers_.size() < 8) spare_buffers_.push_back(std::move(op.bytes));
    }
    busy_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
  busy_ = false;
  idle_.notify_all();
}

void DiskTier::do_write(Op& op) {
  const uint64_t start = now_ns();
  op.header.payload_checksum = XXH3_64bits(op.bytes.data(), op.bytes.size());
  const uint64_t disk_bytes = entry_disk_bytes(op.bytes.size());
  std::vector<EntryKey> evicted;
  bool admitted;
  {
    // Room is made before the file exists, so the budget holds at every
    // moment; the entry stays in in_flight_ (invisible) until renamed.
    std::lock_guard<std::mutex> lock(mu_);
    admitted = index_.admit(op.header.key, op.header.parent, op.header.depth, disk_bytes, op.tick,
                            needs_parent_[op.header.key.group], evicted);
    stats_.evictions += evicted.size();
    if (!admitted) ++stats_.writes_refused;
  }
  for (const EntryKey& k : evicted) remove_file(k);
  if (!admitted) return;
  try {
    write_entry(dir_, op.header, op.bytes, config_.fsync);
  } catch (const kiln::Error&) {
    std::lock_guard<std::mutex> lock(mu_);
    index_.erase(op.header.key);
    ++stats_.write_errors;
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.writes;
  stats_.write_bytes += disk_bytes;
  stats_.write_ns += now_ns() - start;
}

void DiskTier::do_touch(const Op& op) {
  std::vector<EntryKey> touched;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const BlockHash& h : op.chain)
      for (uint32_t g = 0; g < payload_bytes_.size(); ++g) {
        const EntryKey key{h, g};
        if (!index_.contains(key)) continue;
        index_.touch(key, op.tick, uint32_t(op.chain.size()), op.hit);
        touched.push_back(key);
      }
  }
  // Refresh modification times: the recency a restarted index starts from.
  for (const EntryKey& key : touched)
    ::utimensat(AT_FDCWD, (dir_ / entry_file_name(key)).c_str(), nullptr, 0);
}

void DiskTier::remove_file(const EntryKey& key) { ::unlink((dir_ / entry_file_name(key)).c_str()); }

void DiskTier::read(std::span<ReadJob> jobs) {
  if (jobs.empty()) return;
  const uint64_t start = now_ns();
  auto read_one = [this](ReadJob& job) {
    const ReadStatus status = read_entry(dir_ / entry_file_name(job.key), job.key, fingerprints_[job.key.group],
                                         std::span<uint8_t>(job.dst, payload_bytes(job.key.group)));
    job.ok = status == ReadStatus::Ok;
    if (job.ok) return;
    if (status == ReadStatus::Corrupt) remove_file(job.key);
    std::lock_guard<std::mutex> lock(mu_);
    index_.erase(job.key);
    if (status == ReadStatus::Corrupt) ++stats_.corrupt_removed;
  };
  const size_t n_threads = std::min<size_t>(size_t(std::max(config_.read_threads, 1)), (jobs.size() + 3) / 4);
  if (n_threads <= 1) {
    for (ReadJob& job : jobs) read_one(job);
  } else {
    std::vector<std::thread> threads;
    threads.reserve(n_threads);
    for (size_t t = 0; t < n_threads; ++t)
      threads.emplace_back([&, t] {
        for (size_t i = t; i < jobs.size(); i += n_threads) read_one(jobs[i]);
      });
    for (std::thread& th : threads) th.join();
  }
  uint64_t bytes = 0;
  for (const ReadJob& job : jobs)
    if (job.ok) bytes += payload_bytes(job.key.group);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.restore_ns += now_ns() - start;
  stats_.restored_bytes += bytes;
}

void DiskTier::flush() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [&] { return queue_.empty() && !busy_; });
}

void DiskTier::count_lookup(uint64_t hits, uint64_t misses) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.hits += hits;
  stats_.misses += misses;
}

DiskTierStats DiskTier::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  DiskTierStats s = stats_;
  s.blocks = index_.size();
  s.bytes = index_.bytes();
  return s;
}

std::vector<EntryKey> DiskTier::eviction_order() const {
  std::lock_guard<std::mutex> lock(mu_);
  return index_.eviction_order();
}

}  // namespace kiln::kv::tier
