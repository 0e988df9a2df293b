"""cmake/CudaGenerateCode.cmake: nvcc's --generate-code flags for an architecture list, each real
architecture compiled from the PTX of the highest virtual one at or below it, in cmake -P."""
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CMAKE = shutil.which("cmake")

pytestmark = pytest.mark.skipif(CMAKE is None, reason="no cmake")


def run_script(tmp_path, architectures):
    script = tmp_path / "run.cmake"
    script.write_text(
        'cmake_minimum_required(VERSION 3.22)\n'  # the project's policies
        f'include("{ROOT}/cmake/CudaGenerateCode.cmake")\n'
        f'dsagent_cuda_generate_code(flags "{architectures}")\n'
        'foreach(f IN LISTS flags)\n'
        '  message(STATUS "flag=[${f}]")\n'
        'endforeach()\n')
    return subprocess.run([CMAKE, "-P", str(script)], capture_output=True, text=True,
                          timeout=60)


def flags(tmp_path, architectures):
    proc = run_script(tmp_path, architectures)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    return [l.split("flag=[", 1)[1][:-1] for l in out.splitlines() if "flag=[" in l]


def test_the_default_list_takes_one_front_end_for_every_sass(tmp_path):
    assert flags(tmp_path, "90-real;100-real;120-real;90-virtual") == [
        "--generate-code=arch=compute_90,code=[sm_90,sm_100,sm_120,compute_90]"]


def test_a_real_architecture_below_the_virtual_one_gets_its_own(tmp_path):
    # An Ampere workstation's local addition (cmake/CudaLocalArchitectures.cmake).
    assert flags(tmp_path, "90-real;100-real;120-real;86-real;90-virtual") == [
        "--generate-code=arch=compute_86,code=[sm_86]",
        "--generate-code=arch=compute_90,code=[sm_90,sm_100,sm_120,compute_90]"]


def test_without_a_virtual_architecture_each_real_one_has_its_own_front_end(tmp_path):
    assert flags(tmp_path, "120-real;90-real") == [
        "--generate-code=arch=compute_90,code=[sm_90]",
        "--generate-code=arch=compute_120,code=[sm_120]"]


def test_each_real_one_takes_the_highest_virtual_one_at_or_below_it(tmp_path):
    # A plain number is both; 100-virtual serves 120 and 100, compute_80 serves 80 and 90.
    assert flags(tmp_path, "80;90-real;100-virtual;120-real;100-real") == [
        "--generate-code=arch=compute_80,code=[sm_80,sm_90,compute_80]",
        "--generate-code=arch=compute_100,code=[sm_100,sm_120,compute_100]"]


def test_an_entry_of_another_form_stops_the_configure_naming_it(tmp_path):
    proc = run_script(tmp_path, "90-real;native")
    assert proc.returncode != 0
    assert "CUDA architecture 'native' is not NN, NN-real or NN-virtual" in proc.stderr
