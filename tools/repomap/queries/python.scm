; Python tags for the repo map (captures as in c.scm). A function inside a class is reported as a
; method by the extractor.

(class_definition name: (identifier) @name) @definition.class
(function_definition name: (identifier) @name) @definition.function
(module (expression_statement (assignment left: (identifier) @name)) @definition.constant)

(call function: (identifier) @reference.call)
(call function: (attribute attribute: (identifier) @reference.call))
(identifier) @reference.identifier
