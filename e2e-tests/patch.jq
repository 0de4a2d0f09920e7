# apply_patch($ops): applies an RFC 6902 JSON patch (add, remove, replace) to
# the input, so tests can assert on the Pod after the patch.
def pointer: ltrimstr("/") | if . == "" then [] else split("/") | map(gsub("~1"; "/") | gsub("~0"; "~")) end;
def resolve($doc; $keys):
  reduce range(0; $keys | length) as $i ([];
    . as $path
    | ($doc | getpath($path)) as $parent
    | $path + [if ($parent | type) == "array" then (if $keys[$i] == "-" then ($parent | length) else ($keys[$i] | tonumber) end) else $keys[$i] end]);
def apply_op($op):
  . as $doc
  | resolve($doc; $op.path | pointer) as $p
  | if $op.op == "add" then
      (if ($p | length) > 0 and ($p[-1] | type) == "number"
       then ($doc | getpath($p[:-1])) as $list | setpath($p[:-1]; $list[:$p[-1]] + [$op.value] + $list[$p[-1]:])
       else setpath($p; $op.value) end)
    elif $op.op == "remove" then delpaths([$p])
    elif $op.op == "replace" then setpath($p; $op.value)
    else error("unsupported patch operation \($op.op)") end;
def apply_patch($ops): reduce $ops[] as $op (.; apply_op($op));
