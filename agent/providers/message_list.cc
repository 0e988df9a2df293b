#include "agent/providers/message_list.h"

#include <atomic>

namespace dsagent {

std::shared_ptr<MessageList::Storage> MessageList::NewStorage() {
  static std::atomic<uint64_t> next_id{1};
  auto s = std::make_shared<Storage>();
  s->id = next_id.fetch_add(1, std::memory_order_relaxed);
  return s;
}

MessageList::MessageList() : storage_(NewStorage()) {}

MessageList::MessageList(std::initializer_list<Message> messages) : storage_(NewStorage()) {
  for (const Message& m : messages) push_back(m);
}

MessageList::MessageList(std::vector<Message> messages) : storage_(NewStorage()) {
  for (Message& m : messages) push_back(std::move(m));
}

void MessageList::push_back(Message message) {
  if (storage_->items.size() != size_) {
    // Another view appended past this one: continue on a private copy of this view's messages.
    auto fresh = NewStorage();
    fresh->items.assign(begin(), end());
    storage_ = std::move(fresh);
  }
  storage_->items.push_back(std::move(message));
  ++size_;
}

}  // namespace dsagent
