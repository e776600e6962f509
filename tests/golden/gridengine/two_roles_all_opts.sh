qsub -terse <<'TORCHX_EOF'
#!/bin/bash
#$ -S /bin/bash
#$ -N t1_mixed_app
#$ -t 1-3
#$ -wd "/shared/my jobs"
#$ -o torchx-$JOB_ID.$TASK_ID.out
#$ -e torchx-$JOB_ID.$TASK_ID.err
#$ -V
#$ -q gpu.q
#$ -P proj
#$ -pe mpi 4
#$ -l h_vmem=64000M
#$ -l gpus=2

# torchx: app '1 mixed/app', 3 replica(s) as tasks 1-3 of one array job
# note: one array job: every task asks for the largest role's resources (cpu=4, memMB=64000, gpu=2)
# -V passes the submit environment but PATH; take the submitter's too
if [ -n "${SGE_O_PATH:-}" ]; then export PATH="$SGE_O_PATH"; fi
export TORCHX_APP_ID="$JOB_ID"
rank0=".torchx-$JOB_ID.rank0"  # task 1 publishes its host here (job directory)
if [ "$SGE_TASK_ID" = 1 ]; then
  hostname >"$rank0.$$" && mv -f "$rank0.$$" "$rank0"
else
  for _ in $(seq 600); do [ -s "$rank0" ] && break; sleep 1; done
  [ -s "$rank0" ] || { echo "torchx: replica 0 (task 1) did not start within 600 s" >&2; exit 1; }
fi
export TORCHX_RANK0_HOST="$(cat "$rank0")"

case "$SGE_TASK_ID" in
  1)  # ps[0]
    env MODE=server JOB=job-"$TORCHX_APP_ID" python
    ;;
  2)  # worker[0]
    python 'it'"'"'s a "test"' '$HOME' '`id`' 'a;b' $'x\x0a#$ -q evil' :
    ;;
  3)  # worker[1]
    python 'it'"'"'s a "test"' '$HOME' '`id`' 'a;b' $'x\x0a#$ -q evil' :
    ;;
  *) echo "torchx: no replica for task $SGE_TASK_ID" >&2; exit 2 ;;
esac
rc=$?
tries=".torchx-$JOB_ID.$SGE_TASK_ID.retries"
n=$(cat "$tries" 2>/dev/null || echo 0)
if [ "$rc" -ne 0 ] && [ "$n" -lt 2 ]; then
  echo $((n + 1)) >"$tries"
  echo "torchx: exit code $rc; retry $((n + 1)) of 2" >&2
  exit 99  # Grid Engine requeues the task
fi
exit "$rc"
TORCHX_EOF
