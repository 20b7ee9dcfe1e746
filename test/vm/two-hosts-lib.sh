# Sourced in both guests of a pair (test/support/vm-pair.ts), after scripts/vm-guest-lib.sh.
# ROLE is master, client (or prep). /tmp/pair is the share both guests mount: a flag is a file
# there. When this guest's script ends, for whatever reason, exit-ROLE says so with its status,
# and the other guest's pair_wait gives up at once.
PAIR=/tmp/pair
trap 'echo "$?" > "$PAIR/exit-$ROLE"' EXIT

# pair_signal NAME [TEXT]: raise flag NAME (its text written first, then renamed: never half).
pair_signal() {
  printf '%s\n' "${2:-}" > "$PAIR/.$1.$ROLE" && mv "$PAIR/.$1.$ROLE" "$PAIR/$1"
  echo "[$ROLE $(cut -d' ' -f1 /proc/uptime)] signal $1"
}

# pair_wait NAME SECONDS: wait for flag NAME; fails when the other guest exited first or at the bound.
pair_wait() {
  local name=$1 ticks=$(( $2 * 5 )) other=client
  [ "$ROLE" = client ] && other=master
  while [ ! -e "$PAIR/$name" ]; do
    [ -e "$PAIR/exit-$other" ] && { echo "pair_wait $name: the $other exited ($(cat "$PAIR/exit-$other"))" >&2; return 1; }
    [ "$ticks" -le 0 ] && { echo "pair_wait $name: not there after $2 s" >&2; return 1; }
    sleep 0.2; ticks=$((ticks - 1))
  done
  echo "[$ROLE $(cut -d' ' -f1 /proc/uptime)] saw $name"
}

# pair_mount MNT OPTS...: serve DEV on MNT in the background (vm_serve: $SERVER gets signals;
# kill -9 is the point of one step); log in $VM_OUT/server.log; wait until live.
pair_mount() {
  local mnt=$1; shift
  mkdir -p "$mnt"
  vm_serve "$VM_OUT/server.log" 300 "$DEV" "$mnt" --readers 0 --system-uuid "$U" "$@"
}

# pair_dev: wait for the devdax the prep boot made (both guests probe it from the same labels).
pair_dev() {
  DEV=/dev/dax0.0
  vm_wait_path $DEV 60 || { ndctl list -N >&2; return 1; }
  echo "[$ROLE] $DEV: $(cat /sys/bus/dax/devices/dax0.0/size) bytes, align $(cat /sys/bus/dax/devices/dax0.0/align)"
}
U=/tmp/system-uuid
