#include <stdlib.h>

#include "list.h"

list_node_t *list_push(list_node_t *head, int value) {
  list_node_t *node = malloc(sizeof *node);
  node->value = value;
  node->next = head;
  return node;
}

int list_length(const list_node_t *head) {
  int n = 0;
  for (; head; head = head->next) ++n;
  return n;
}
