#!/bin/bash
# torchx: app two_roles_all_opts-0000 on LSF, 3 replica(s), one bsub each
set -euo pipefail
app_id=two_roles_all_opts-0000
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
# ps[0]
submit \
  -P two_roles_all_opts-0000 \
  -J two_roles_all_opts-0000-ps-0 \
  -q gpu \
  -n 1 \
  -R 'span[hosts=1] rusage[mem=512]' \
  -m "$head_host" \
  -o "$logdir"/ps-0.out \
  -e "$logdir"/ps-0.err <<'TORCHX_EOF'
#!/bin/sh
exec docker run --rm \
  --name two_roles_all_opts-0000-ps-0 \
  --shm-size=16g \
  --net=host \
  -w /workspace \
  -e TORCHX_RANK0_HOST \
  -e MODE=server \
  -e 'CMD=$(rm -rf ~)' \
  -e JOB=job-two_roles_all_opts-0000 \
  --entrypoint python \
  pytorch/pytorch:2
TORCHX_EOF
head_id=$job_id
# work_er[0]
submit \
  -P two_roles_all_opts-0000 \
  -J two_roles_all_opts-0000-work_er-0 \
  -q gpu \
  -n 4 \
  -R 'span[hosts=1] rusage[mem=64000]' \
  -gpu 'num=2:mode=shared:j_exclusive=yes' \
  -w "started($head_id)" \
  -R "select[hname!='$head_host']" \
  -o "$logdir"/work_er-0.out \
  -e "$logdir"/work_er-0.err <<'TORCHX_EOF_'
#!/bin/sh
exec bash -c 'exec docker run --rm --name two_roles_all_opts-0000-work_er-0 --shm-size=16g --net=host -w /workspace --gpus "\"device=${CUDA_VISIBLE_DEVICES:-all}\"" -v /data:/mnt/data:ro --device /dev/fuse:/dev/fuse:rwm -e TORCHX_RANK0_HOST --entrypoint python pytorch/pytorch:2 '"'"'it'"'"'"'"'"'"'"'"'s a "test"'"'"' '"'"'$HOME'"'"' '"'"'`id`'"'"' '"'"'a;b'"'"' $'"'"'x\x0aEOF\x0ay'"'"' TORCHX_EOF'
TORCHX_EOF_
# work_er[1]
submit \
  -P two_roles_all_opts-0000 \
  -J two_roles_all_opts-0000-work_er-1 \
  -q gpu \
  -n 4 \
  -R 'span[hosts=1] rusage[mem=64000]' \
  -gpu 'num=2:mode=shared:j_exclusive=yes' \
  -w "started($head_id)" \
  -R "select[hname!='$head_host']" \
  -o "$logdir"/work_er-1.out \
  -e "$logdir"/work_er-1.err <<'TORCHX_EOF_'
#!/bin/sh
exec bash -c 'exec docker run --rm --name two_roles_all_opts-0000-work_er-1 --shm-size=16g --net=host -w /workspace --gpus "\"device=${CUDA_VISIBLE_DEVICES:-all}\"" -v /data:/mnt/data:ro --device /dev/fuse:/dev/fuse:rwm -e TORCHX_RANK0_HOST --entrypoint python pytorch/pytorch:2 '"'"'it'"'"'"'"'"'"'"'"'s a "test"'"'"' '"'"'$HOME'"'"' '"'"'`id`'"'"' '"'"'a;b'"'"' $'"'"'x\x0aEOF\x0ay'"'"' TORCHX_EOF'
TORCHX_EOF_
trap - EXIT
echo "$app_id"
