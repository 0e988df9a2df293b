// MessageList: the messages of a request, as an append-only sequence whose copies share storage.
//
// Why: a session's conversation grows to millions of bytes, and every model call hands all of it to
// a provider. Copying a MessageList is O(1) — the copy is a view of the first size() messages of
// the shared storage — so the agent passes the whole conversation without copying it, and a wire
// format can recognise a list it has encoded before (same storage_id(), at least as many messages)
// and encode only the new tail (see encoded_prefix.h).
//
// Contract: a message, once in a storage, is never changed, so (storage_id(), index) names one
// message for the life of the process. push_back() appends in place when this list is the longest
// view of its storage; otherwise (another view appended past it) it first moves to fresh storage
// with a new id. Element references stay valid while the storage lives (it is a deque).
// Thread-safety: none; lists that share storage must not be appended to and read concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <memory>
#include <vector>

#include "agent/providers/message.h"

namespace dsagent {

class MessageList {
 public:
  using const_iterator = std::deque<Message>::const_iterator;

  MessageList();
  MessageList(std::initializer_list<Message> messages);
  explicit MessageList(std::vector<Message> messages);

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const Message& operator[](size_t i) const { return storage_->items[i]; }
  const Message& front() const { return storage_->items.front(); }
  const Message& back() const { return storage_->items[size_ - 1]; }
  const_iterator begin() const { return storage_->items.cbegin(); }
  const_iterator end() const { return storage_->items.cbegin() + static_cast<ptrdiff_t>(size_); }

  void push_back(Message message);

  // Identifies the storage: equal ids and i < both sizes mean the same message at index i.
  uint64_t storage_id() const { return storage_->id; }

 private:
  struct Storage {
    uint64_t id;
    std::deque<Message> items;
  };
  static std::shared_ptr<Storage> NewStorage();

  std::shared_ptr<Storage> storage_;
  size_t size_ = 0;
};

}  // namespace dsagent
