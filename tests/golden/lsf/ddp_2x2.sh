#!/bin/bash
# torchx: app ddp_2x2-0000 on LSF, 2 replica(s), one bsub each
set -euo pipefail
app_id=ddp_2x2-0000
jobdir=/shared/jobs
logdir="$jobdir/$app_id"
mkdir -p "$logdir"
ids=()
# a failed bsub leaves nothing behind: kill what was already submitted
trap 'rc=$?; if [ "$rc" -ne 0 ] && [ "${#ids[@]}" -gt 0 ]; then bkill "${ids[@]}" >/dev/null 2>&1 || true; echo "torchx: submission failed; killed LSF jobs ${ids[*]}" >&2; fi' EXIT
submit() {  # bsub options...; the job body on stdin. Sets $job_id
  local out
  out=$(bsub "$@")
  if [[ $out =~ Job\ \<([0-9]+)\> ]]; then job_id=${BASH_REMATCH[1]}; ids+=("$job_id"); else echo "torchx: cannot read a job id from bsub: $out" >&2; return 1; fi
}
head_host=$(bhosts -w | awk 'NR > 1 && $2 == "ok" { print $1; exit }')
[ -n "$head_host" ] || { echo "torchx: bhosts lists no host in state ok" >&2; exit 1; }
export TORCHX_RANK0_HOST="$head_host"
# trainer[0]
submit \
  -P ddp_2x2-0000 \
  -J ddp_2x2-0000-trainer-0 \
  -q normal \
  -n 2 \
  -R 'span[hosts=1] rusage[mem=1024]' \
  -m "$head_host" \
  -o "$logdir"/trainer-0.out \
  -e "$logdir"/trainer-0.err <<'TORCHX_EOF'
#!/bin/sh
exec docker run --rm \
  --name ddp_2x2-0000-trainer-0 \
  --shm-size=64m \
  -e TORCHX_RANK0_HOST \
  --entrypoint python \
  pytorch/pytorch:2 -m torch.distributed.run --nnodes 2 --nproc_per_node 2 --rdzv_endpoint '${TORCHX_RANK0_HOST:=localhost}:29500' --rdzv_id ddp_2x2-0000 --node_rank 0 train.py
TORCHX_EOF
head_id=$job_id
# trainer[1]
submit \
  -P ddp_2x2-0000 \
  -J ddp_2x2-0000-trainer-1 \
  -q normal \
  -n 2 \
  -R 'span[hosts=1] rusage[mem=1024]' \
  -w "started($head_id)" \
  -o "$logdir"/trainer-1.out \
  -e "$logdir"/trainer-1.err <<'TORCHX_EOF'
#!/bin/sh
exec docker run --rm \
  --name ddp_2x2-0000-trainer-1 \
  --shm-size=64m \
  -e TORCHX_RANK0_HOST \
  --entrypoint python \
  pytorch/pytorch:2 -m torch.distributed.run --nnodes 2 --nproc_per_node 2 --rdzv_endpoint '${TORCHX_RANK0_HOST:=localhost}:29500' --rdzv_id ddp_2x2-0000 --node_rank 1 train.py
TORCHX_EOF
trap - EXIT
echo "$app_id"
