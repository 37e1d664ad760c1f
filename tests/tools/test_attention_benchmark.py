import json

import pytest
from PIL import Image


@pytest.mark.slow
def test_layouts_measured_in_their_own_processes(load_tool, tmp_path,
                                                 capsys):
    tool = load_tool('benchmarks/attention.py')
    arch = '{"embed_dims": 32, "depth": 4, "num_heads": 2}'
    tool.main(['--arch', arch, '--sizes', '64', '32', '--layouts',
               'all windowed', 'all global', '--modes', 'infer',
               '--out-dir', str(tmp_path)])
    saved = json.loads((tmp_path / 'attention.json').read_text())
    assert saved['arch'] == dict(embed_dims=32, depth=4, num_heads=2)
    assert [(c['layout'], c['size'], c['tokens']) for c in saved['costs']
            ] == [('all windowed', 32, 4), ('all windowed', 64, 16),
                  ('all global', 32, 4), ('all global', 64, 16)]
    assert all(c['seconds'] > 0 and c['peak_gb'] > 0 for c in saved['costs'])
    table = (tmp_path / 'attention.md').read_text()
    assert '| all global | infer |' in table
    assert table in capsys.readouterr().out
    with Image.open(tmp_path / 'attention.png') as png:
        png.load()
