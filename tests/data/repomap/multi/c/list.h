#ifndef LIST_H
#define LIST_H

struct list_node {
  int value;
  struct list_node* next;
};

typedef struct list_node list_node_t;

list_node_t* list_push(list_node_t* head, int value);
int list_length(const list_node_t* head);

#endif
