"""cmake/CudaLocalArchitectures.cmake: the architectures a build adds for the GPUs of the machine
building it, from nvidia-smi's compute capabilities (a stand-in nvidia-smi here), in cmake -P."""
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NVCC_ARCHS = "compute_75\ncompute_80\ncompute_86\ncompute_87\ncompute_89\ncompute_90\ncompute_100\n"
CMAKE = shutil.which("cmake")


def local_architectures(tmp_path, smi_output, smi_status=0, nvcc_archs=NVCC_ARCHS,
                        so_far="90-real;100-real", with_smi=True):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    smi = bin_dir / "nvidia-smi"
    if with_smi:
        smi.write_text(f"#!/bin/sh\nprintf '{smi_output}'\nexit {smi_status}\n")
        smi.chmod(0o755)
    elif smi.exists():
        smi.unlink()
    script = tmp_path / "run.cmake"
    script.write_text(
        f'cmake_minimum_required(VERSION 3.22)\n'  # the project's policies
        f'include("{ROOT}/cmake/CudaLocalArchitectures.cmake")\n'
        f'dsagent_local_cuda_architectures(found "{nvcc_archs}" "{so_far}")\n'
        'message(STATUS "found=[${found}]")\n')
    env = dict(os.environ, PATH=str(bin_dir))  # nothing else named nvidia-smi
    proc = subprocess.run([CMAKE, "-P", str(script)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    line = [l for l in (proc.stdout + proc.stderr).splitlines() if "found=[" in l][0]
    return line.split("found=[", 1)[1].rstrip("]")


pytestmark = pytest.mark.skipif(CMAKE is None, reason="no cmake")


def test_an_ada_gpu_adds_its_architecture_once(tmp_path):
    assert local_architectures(tmp_path, "8.9\\n9.0\\n8.9\\n") == "89-real"


def test_ampere_gpus_add_theirs(tmp_path):
    assert local_architectures(tmp_path, "8.0\\n8.6\\n") == "80-real;86-real"


def test_nothing_is_added_for_gpus_the_defaults_cover_or_the_backend_cannot_run_on(tmp_path):
    assert local_architectures(tmp_path, "9.0\\n12.0\\n") == ""
    assert local_architectures(tmp_path, "7.5\\n") == ""  # below compute 8.0: no bf16


def test_nothing_is_added_that_nvcc_cannot_build_or_the_build_has(tmp_path):
    assert local_architectures(tmp_path, "8.9\\n", nvcc_archs="compute_80\ncompute_90\n") == ""
    assert local_architectures(tmp_path, "8.6\\n", so_far="90-real;86-real") == ""


def test_nothing_is_added_without_a_working_nvidia_smi(tmp_path):
    assert local_architectures(tmp_path, "8.9\\n", smi_status=9) == ""
    assert local_architectures(tmp_path, "", with_smi=False) == ""
