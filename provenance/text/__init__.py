"""Text: normalisation with offset maps, sentence segmentation and claims (kinds, speakers).
"""
