"""Where call recordings are kept: a storage interface and its folder backend (`store`).

Audio is streamed into storage as it arrives and never held whole in memory.
"""
